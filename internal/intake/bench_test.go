package intake

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// BenchmarkEVEIntake measures Suricata EVE lines from a file into the
// evidence log: the Tail reads, parses and ingests them, and the
// benchmark ends when every event is durably logged. b.N lines.
func BenchmarkEVEIntake(b *testing.B) {
	e := newEnv(b)
	p := startPipeline(b, e, func(c *Config) { c.Desk = nil })
	dir := b.TempDir()
	path := filepath.Join(dir, "eve.json")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for i := range b.N {
		n, _ := fmt.Fprint(f, eveLine(i))
		size += int64(n)
	}
	f.Close()
	b.SetBytes(size / int64(b.N))
	b.ResetTimer()
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	tl := &Tail{Path: path, StateDir: filepath.Join(dir, "state"), Poll: time.Millisecond, Sensor: "ids", Out: p, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Minute)
	for p.Stats().Accepted < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("after 5 minutes: %+v, want %d accepted", p.Stats(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
}

// BenchmarkIndex measures the SQLite index alone: b.N events handed to
// the projector as hints (as after their append), in transactions of
// projectBatch.
func BenchmarkIndex(b *testing.B) {
	e := newEnv(b)
	p, err := Open(context.Background(), Config{Log: e.log, DB: e.db, SpoolDir: filepath.Join(e.dir, "spool"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	events := make([]sensor.Event, projectBatch)
	for i := range events {
		x, err := ParseEVE([]byte(eveLine(i)), nil, "ids")
		if err != nil {
			b.Fatal(err)
		}
		x.ID = EVEID("bench:", []byte(eveLine(i)))
		events[i] = x
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += projectBatch {
		n := min(projectBatch, b.N-done)
		hints := make(map[int64]sensor.Event, n)
		for i := range n {
			x := events[i]
			x.ID = fmt.Sprintf("%s-%d", x.ID, done)
			hints[int64(done+i)] = x
		}
		if _, err := p.indexEntries(context.Background(), int64(done), int64(done+n), hints); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

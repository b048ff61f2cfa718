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

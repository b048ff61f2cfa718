package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/intake"
	"github.com/vallum/vallum/internal/store"
)

// runBenchIntake measures Suricata EVE intake: a file of synthetic EVE
// alerts is tailed, parsed and logged through the event pipeline, and the
// time until every line is a durable "event" entry (and then indexed) is
// reported. bench.go dispatches "vallum bench intake" here.
func runBenchIntake(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "bench intake", "bench intake [--lines N] [--dir DIR] [--json]")
	lines := fs.Int("lines", 200000, "EVE lines to take in")
	dir := fs.String("dir", "", "directory for the benchmark's log and database (default: a new temporary directory, removed afterwards)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *lines < 1 {
		return &exitError{code: 2, err: fmt.Errorf("want --lines >= 1")}
	}
	d := *dir
	if d == "" {
		var err error
		if d, err = os.MkdirTemp("", "vallum-bench-intake-"); err != nil {
			return err
		}
		defer os.RemoveAll(d)
	} else if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	keys, _, err := evidence.LoadOrCreateKeys(d, "bench.vallum.local/intake")
	if err != nil {
		return err
	}
	files, err := store.OpenFiles(filepath.Join(d, logDir), quiet)
	if err != nil {
		return err
	}
	defer files.Close()
	l, err := evidence.Open(evidence.Config{Origin: keys.Origin, Signer: keys.Signer, Verifier: keys.Verifier, Storage: files, Logger: quiet})
	if err != nil {
		return err
	}
	defer l.Close()
	db, err := store.OpenSQLite(ctx, filepath.Join(d, dbFile))
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := intake.Open(ctx, intake.Config{Log: l, DB: db, SpoolDir: filepath.Join(d, intakeSpoolDir), Logger: quiet})
	if err != nil {
		return err
	}
	eve := filepath.Join(d, "eve.json")
	size, err := writeEVE(eve, *lines)
	if err != nil {
		return err
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 2)
	go func() { done <- p.Run(rctx) }()
	start := time.Now()
	tail := &intake.Tail{Path: eve, StateDir: filepath.Join(d, intakeStateDir), Poll: time.Millisecond, Sensor: "bench/suricata", Out: p, Logger: quiet}
	go func() { done <- tail.Run(rctx) }()
	for p.Stats().Accepted+p.Stats().Rejected < int64(*lines) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(time.Millisecond)
	}
	logged := time.Since(start)
	for {
		n, err := p.Indexed(ctx)
		if err != nil {
			return err
		}
		if n >= l.Size() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	indexed := time.Since(start)
	stop()
	<-done
	<-done
	res := struct {
		Lines         int     `json:"lines"`
		Bytes         int64   `json:"bytes"`
		Rejected      int64   `json:"rejected"`
		LoggedSeconds float64 `json:"logged_seconds"`
		LinesPerSec   float64 `json:"lines_per_sec"`
		IndexedSecs   float64 `json:"indexed_seconds"`
	}{*lines, size, p.Stats().Rejected, logged.Seconds(), float64(*lines) / logged.Seconds(), indexed.Seconds()}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintf(env.stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintf(env.stdout, "vallum intake: %d Suricata EVE lines (%d bytes) from a tailed file\n", res.Lines, res.Bytes)
	fmt.Fprintf(env.stdout, "  into the log        %.0f lines/s (%.2fs until every line was a durable event entry)\n", res.LinesPerSec, res.LoggedSeconds)
	fmt.Fprintf(env.stdout, "  indexed             after %.2fs (SQLite index followed the log)\n", res.IndexedSecs)
	if res.Rejected > 0 {
		fmt.Fprintf(env.stdout, "  rejected            %d\n", res.Rejected)
	}
	return nil
}

// writeEVE writes n synthetic EVE alerts to path.
func writeEVE(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var size int64
	for i := range n {
		k, _ := fmt.Fprintf(w, `{"timestamp":"2026-11-28T10:%02d:%02d.%06d+0000","flow_id":%d,"in_iface":"eth0","event_type":"alert","src_ip":"203.0.113.%d","src_port":%d,"dest_ip":"10.0.0.%d","dest_port":22,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":%d,"rev":3,"signature":"ET SCAN Potential SSH Scan","category":"Attempted Information Leak","severity":2}}`+"\n",
			i/60%60, i%60, i%1000000, 1000000+i, i%250+1, 1024+i%60000, i%250+1, 2001219+i%100)
		size += int64(k)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return size, f.Close()
}

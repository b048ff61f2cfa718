package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
)

func runBench(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 && args[0] == "intake" {
		return runBenchIntake(ctx, env, args[1:])
	}
	if len(args) > 0 && args[0] == "contain" {
		return runBenchContain(ctx, env, args[1:])
	}
	if len(args) == 0 || args[0] != "log" {
		return &exitError{code: 2, err: withHint(fmt.Errorf("want 'vallum bench log', 'vallum bench intake' or 'vallum bench contain'"), "run 'vallum bench log --help'")}
	}
	fs := newFlagSet(env, "bench log", "bench log [--entries N] [--writers W] [--batch B] [--payload BYTES] [--dir DIR] [--verify] [--json]")
	entries := fs.Int("entries", 200000, "entries to append")
	writers := fs.Int("writers", 256, "concurrent appenders")
	batch := fs.Int("batch", 1, "records per call: 1 appends one at a time (Append), more appends that many with one wait (AppendBatch, as event intake does)")
	payload := fs.Int("payload", 256, "payload size in bytes (a JSON document)")
	dir := fs.String("dir", "", "directory for the benchmark log (default: a new temporary directory, removed afterwards)")
	verify := fs.Bool("verify", false, "also time offline verification of the log written")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *entries < 1 || *writers < 1 || *batch < 1 || *payload < 8 {
		return &exitError{code: 2, err: fmt.Errorf("want --entries >= 1, --writers >= 1, --batch >= 1, --payload >= 8")}
	}
	d := *dir
	if d == "" {
		var err error
		if d, err = os.MkdirTemp("", "vallum-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(d)
	} else if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	res, err := benchLog(ctx, d, *entries, *writers, *batch, *payload, *verify)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintf(env.stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintf(env.stdout, "vallum log: %d entries, %d writers, %d records a call, %d-byte payloads\n", res.Entries, res.Writers, res.Batch, res.Payload)
	fmt.Fprintf(env.stdout, "  durable appends/s   %.0f\n", res.AppendsPerSec)
	fmt.Fprintf(env.stdout, "  latency p50 / p99   %v / %v (to durable and covered by a signed checkpoint)\n", res.P50, res.P99)
	fmt.Fprintf(env.stdout, "  batches             %d (mean %.1f entries per fdatasync)\n", res.Checkpoints, float64(res.Entries)/float64(res.Checkpoints))
	if *verify {
		fmt.Fprintf(env.stdout, "  offline verify      %v (%.0f entries/s): %s\n", res.Verify, float64(res.Entries)/res.Verify.Seconds(), res.VerifySummary)
	}
	return nil
}

// benchResult is what 'vallum bench log' measures.
type benchResult struct {
	Entries       int           `json:"entries"`
	Writers       int           `json:"writers"`
	Batch         int           `json:"batch"`
	Payload       int           `json:"payload_bytes"`
	Elapsed       time.Duration `json:"elapsed_ns"`
	AppendsPerSec float64       `json:"appends_per_sec"`
	P50           time.Duration `json:"p50_ns"`
	P99           time.Duration `json:"p99_ns"`
	Checkpoints   int           `json:"checkpoints"`
	Verify        time.Duration `json:"verify_ns,omitempty"`
	VerifySummary string        `json:"verify_summary,omitempty"`
}

// benchLog appends n entries from w writers, each appending batch records
// a call; the latency is per call.
func benchLog(ctx context.Context, dir string, n, w, batch, size int, verify bool) (*benchResult, error) {
	keys, _, err := evidence.LoadOrCreateKeys(dir, "")
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	logDir := filepath.Join(dir, "log")
	st, err := store.OpenFiles(logDir, quiet)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	l, err := evidence.Open(evidence.Config{Origin: keys.Origin, Signer: keys.Signer, Verifier: keys.Verifier, Storage: st, Logger: quiet})
	if err != nil {
		return nil, err
	}
	payloads := make([][]byte, 64)
	for i := range payloads {
		raw := make([]byte, (size-8)*3/4)
		for j := range raw {
			raw[j] = byte(rand.IntN(256))
		}
		payloads[i] = fmt.Appendf(nil, `{"d":"%s"}`, base64.StdEncoding.EncodeToString(raw))
	}
	lat := make([][]time.Duration, w)
	errs := make(chan error, w)
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			recs := make([]evidence.Record, 0, batch)
			for first := g * batch; first < n; first += w * batch {
				recs = recs[:0]
				for i := first; i < min(first+batch, n); i++ {
					recs = append(recs, evidence.Record{Kind: "bench", Actor: "bench", Payload: payloads[i%len(payloads)]})
				}
				t := time.Now()
				if batch == 1 {
					_, err := l.Append(ctx, recs[0])
					if err != nil {
						errs <- err
						return
					}
				} else {
					for _, o := range l.AppendBatch(ctx, recs) {
						if o.Err != nil {
							errs <- o.Err
							return
						}
					}
				}
				lat[g] = append(lat[g], time.Since(t))
			}
		}(g)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		l.Close()
		return nil, err
	}
	l.Close()
	all := slices.Concat(lat...)
	slices.Sort(all)
	res := &benchResult{
		Entries: n, Writers: w, Batch: batch, Payload: len(payloads[0]), Elapsed: elapsed,
		AppendsPerSec: float64(n) / elapsed.Seconds(),
		P50:           all[len(all)/2], P99: all[len(all)*99/100],
		Checkpoints: len(st.CheckpointSizes()),
	}
	if verify {
		t := time.Now()
		v := evidence.NewVerifier(keys.Origin, keys.Verifier)
		if err := store.VerifyFiles(logDir, v); err != nil {
			return nil, err
		}
		rep := v.Finish()
		res.Verify, res.VerifySummary = time.Since(t), rep.Summary()
		if !rep.OK() {
			return res, fmt.Errorf("benchmark log doesn't verify: %s", rep)
		}
	}
	return res, nil
}

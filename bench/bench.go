package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
)

// Settings is one benchmark configuration; both systems run the same one.
type Settings struct {
	Entries int
	Writers int
	Payload int // bytes per payload, a JSON document
	Dir     string

	// Tessera appender settings.
	TesseraBatchAge      time.Duration
	TesseraBatchSize     uint
	TesseraCheckpoint    time.Duration
	TesseraCheckpointPol time.Duration // how often the checkpoint file is polled

	// CPUProfile, if set, is written while the Vallum side runs.
	CPUProfile string
	// Only, if "vallum" or "tessera", runs just that system.
	Only string
	// TesseraFirst runs Tessera before Vallum.
	TesseraFirst bool
}

// Result is what one system achieved.
type Result struct {
	System     string  `json:"system"`
	Entries    int     `json:"entries"`
	Writers    int     `json:"writers"`
	Payload    int     `json:"payload_bytes"`
	Seconds    float64 `json:"seconds"`       // first append start to last durable append
	AppendsSec float64 `json:"appends_per_s"` // durable appends per second
	P50Durable float64 `json:"p50_durable_ms"`
	P99Durable float64 `json:"p99_durable_ms"`
	P50Signed  float64 `json:"p50_signed_checkpoint_ms"`
	P99Signed  float64 `json:"p99_signed_checkpoint_ms"`
	// SecondsSigned runs until a signed checkpoint covers every entry.
	SecondsSigned float64 `json:"seconds_to_final_checkpoint"`
	// FinalSize is the size of the last signed checkpoint, which was
	// verified with the system's public key.
	FinalSize int64 `json:"final_checkpoint_size"`

	// Indexes are the indexes the system returned, one per entry (kept for
	// checks, not printed).
	Indexes []int64 `json:"-"`
}

// makePayloads returns n distinct JSON documents of exactly size bytes:
// {"d":"<random base64 characters>"}.
func makePayloads(n, size int) ([][]byte, error) {
	const overhead = len(`{"d":""}`)
	if size < overhead+1 {
		return nil, fmt.Errorf("payload must be at least %d bytes", overhead+1)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	buf := make([]byte, n*size)
	out := make([][]byte, n)
	rnd := make([]byte, size)
	for i := range out {
		p := buf[i*size : (i+1)*size : (i+1)*size]
		copy(p, `{"d":"`)
		rand.Read(rnd)
		for j := 6; j < size-2; j++ {
			p[j] = alphabet[rnd[j]&63]
		}
		copy(p[size-2:], `"}`)
		out[i] = p
	}
	return out, nil
}

// appendFn appends one payload and returns once it is durable, with its index.
type appendFn func(ctx context.Context, payload []byte) (int64, error)

type samples struct {
	start   []time.Time
	durable []time.Duration
	index   []int64
	first   time.Time
	last    time.Time
}

// drive runs the workload: writers goroutines take the next payload until
// all are appended. It stops at the first error.
func drive(ctx context.Context, s Settings, payloads [][]byte, fn appendFn) (*samples, error) {
	n := len(payloads)
	sm := &samples{
		start:   make([]time.Time, n),
		durable: make([]time.Duration, n),
		index:   make([]int64, n),
	}
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var failed atomic.Bool
	var wg sync.WaitGroup
	sm.first = time.Now()
	for w := 0; w < s.Writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				idx, err := fn(ctx, payloads[i])
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("entry %d: %w", i, err) })
					failed.Store(true)
					return
				}
				sm.start[i], sm.durable[i], sm.index[i] = t0, time.Since(t0), idx
			}
		}()
	}
	wg.Wait()
	sm.last = time.Now()
	return sm, firstErr
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentile returns the p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	k := int(p/100*float64(len(sorted)) + 0.5)
	if k < 1 {
		k = 1
	}
	if k > len(sorted) {
		k = len(sorted)
	}
	return sorted[k-1]
}

func sortedCopy(d []time.Duration) []time.Duration {
	c := slices.Clone(d)
	slices.Sort(c)
	return c
}

func (sm *samples) fill(r *Result, s Settings) {
	r.Entries, r.Writers, r.Payload = len(sm.index), s.Writers, s.Payload
	r.Seconds = sm.last.Sub(sm.first).Seconds()
	r.AppendsSec = float64(len(sm.index)) / r.Seconds
	d := sortedCopy(sm.durable)
	r.P50Durable, r.P99Durable = ms(percentile(d, 50)), ms(percentile(d, 99))
	r.Indexes = sm.index
}

// checkpointSize parses a signed checkpoint after verifying its signature.
func checkpointSize(msg []byte, v note.Verifier) (int64, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return 0, err
	}
	lines := bytes.SplitN([]byte(n.Text), []byte("\n"), 3)
	if len(lines) < 3 {
		return 0, errors.New("malformed checkpoint")
	}
	return strconv.ParseInt(string(lines[1]), 10, 64)
}

// RunVallum runs the workload against Vallum's evidence log on file storage.
func RunVallum(ctx context.Context, s Settings, payloads [][]byte) (*Result, error) {
	const origin = "bench.example/vallum"
	dir := filepath.Join(s.Dir, "vallum")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	skey, vkey, err := evidence.GenerateKey(origin)
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.OpenFiles(dir, logger)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	l, err := evidence.Open(evidence.Config{Origin: origin, Signer: signer, Verifier: verifier, Storage: st, Logger: logger})
	if err != nil {
		return nil, err
	}
	defer l.Close()

	if s.CPUProfile != "" {
		f, err := os.Create(s.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	sm, err := drive(ctx, s, payloads, func(ctx context.Context, p []byte) (int64, error) {
		rc, err := l.Append(ctx, evidence.Record{Kind: "bench", Actor: "bench", Payload: p})
		if err != nil {
			return 0, err
		}
		if rc.TreeSize <= rc.Index {
			return 0, fmt.Errorf("receipt for %d names checkpoint size %d", rc.Index, rc.TreeSize)
		}
		return rc.Index, nil
	})
	if err != nil {
		return nil, err
	}
	r := &Result{System: "vallum"}
	sm.fill(r, s)
	// Append returns only once a signed checkpoint covers the entry.
	r.P50Signed, r.P99Signed, r.SecondsSigned = r.P50Durable, r.P99Durable, r.Seconds
	cp, _ := l.Latest()
	if r.FinalSize, err = checkpointSize(cp, verifier); err != nil {
		return nil, fmt.Errorf("vallum's latest checkpoint: %w", err)
	}
	return r, nil
}

type cpObs struct {
	at   time.Time
	size int64
}

// RunTessera runs the workload against Tessera with its POSIX driver.
func RunTessera(ctx context.Context, s Settings, payloads [][]byte) (*Result, error) {
	const origin = "bench.example/tessera"
	dir := filepath.Join(s.Dir, "tessera")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return nil, err
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(s.TesseraBatchSize, s.TesseraBatchAge).
		WithCheckpointInterval(s.TesseraCheckpoint)
	app, shutdown, reader, err := tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		return nil, err
	}

	// Poll the published checkpoint, noting when each new size is first seen.
	var (
		obsMu   sync.Mutex
		obs     []cpObs
		pollErr error
	)
	pollCtx, stopPoll := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		var last int64 = -1
		var lastRaw []byte
		t := time.NewTicker(s.TesseraCheckpointPol)
		defer t.Stop()
		for {
			select {
			case <-pollCtx.Done():
				return
			case <-t.C:
			}
			raw, err := reader.ReadCheckpoint(pollCtx)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			now := time.Now()
			if err == nil && bytes.Equal(raw, lastRaw) {
				continue // unchanged: skip re-verifying the signature
			}
			lastRaw = raw
			var size int64
			if err == nil {
				size, err = checkpointSize(raw, verifier)
			}
			obsMu.Lock()
			if err != nil {
				pollErr = err
			} else if size > last {
				obs = append(obs, cpObs{now, size})
				last = size
			}
			obsMu.Unlock()
		}
	}()
	defer func() { stopPoll(); <-polled }()

	sm, err := drive(ctx, s, payloads, func(ctx context.Context, p []byte) (int64, error) {
		idx, err := app.Add(ctx, tessera.NewEntry(p))()
		if err != nil {
			return 0, err
		}
		return int64(idx.Index), nil
	})
	if err != nil {
		return nil, err
	}
	// Shutdown returns once a checkpoint covering every added entry is published.
	if err := shutdown(ctx); err != nil {
		return nil, fmt.Errorf("tessera shutdown: %w", err)
	}
	want := int64(len(payloads))
	deadline := time.Now().Add(30 * time.Second)
	for {
		obsMu.Lock()
		done := len(obs) > 0 && obs[len(obs)-1].size >= want
		perr := pollErr
		obsMu.Unlock()
		if perr != nil {
			return nil, fmt.Errorf("reading tessera's checkpoint: %w", perr)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no tessera checkpoint of size %d seen", want)
		}
		time.Sleep(s.TesseraCheckpointPol)
	}
	stopPoll()
	<-polled

	r := &Result{System: "tessera"}
	sm.fill(r, s)
	signed := make([]time.Duration, len(sm.index))
	for i, idx := range sm.index {
		// The first observed checkpoint whose size covers idx.
		k := sort.Search(len(obs), func(k int) bool { return obs[k].size > idx })
		if k == len(obs) {
			return nil, fmt.Errorf("no checkpoint covers index %d", idx)
		}
		signed[i] = obs[k].at.Sub(sm.start[i])
	}
	sg := sortedCopy(signed)
	r.P50Signed, r.P99Signed = ms(percentile(sg, 50)), ms(percentile(sg, 99))
	r.SecondsSigned = obs[len(obs)-1].at.Sub(sm.first).Seconds()
	r.FinalSize = obs[len(obs)-1].size
	return r, nil
}

// Run runs Vallum then Tessera on the same payloads and returns both results.
func Run(ctx context.Context, s Settings, log io.Writer) (vallum, tess *Result, err error) {
	if s.Entries <= 0 || s.Writers <= 0 {
		return nil, nil, errors.New("entries and writers must be positive")
	}
	payloads, err := makePayloads(s.Entries, s.Payload)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(log, "workload: %d entries, %d writers, %d-byte payloads, GOMAXPROCS=%d, dir %s\n",
		s.Entries, s.Writers, s.Payload, runtime.GOMAXPROCS(0), s.Dir)
	if s.Only != "" && s.Only != "vallum" && s.Only != "tessera" {
		return nil, nil, fmt.Errorf("unknown system %q", s.Only)
	}
	// Each system starts after a GC. (No system-wide sync(2): on a busy
	// machine it can block for minutes; both systems fsync their own data.)
	quiesce := func() {
		runtime.GC()
	}
	runV := func() error {
		if s.Only == "tessera" {
			return nil
		}
		quiesce()
		vallum, err = RunVallum(ctx, s, payloads)
		if err != nil {
			return fmt.Errorf("vallum: %w", err)
		}
		return nil
	}
	runT := func() error {
		if s.Only == "vallum" {
			return nil
		}
		quiesce()
		tess, err = RunTessera(ctx, s, payloads)
		if err != nil {
			return fmt.Errorf("tessera: %w", err)
		}
		return nil
	}
	order := []func() error{runV, runT}
	if s.TesseraFirst {
		order = []func() error{runT, runV}
	}
	for _, run := range order {
		if err := run(); err != nil {
			return nil, nil, err
		}
	}
	return vallum, tess, nil
}

// CheckIndexes reports whether idx is a permutation of 0..n-1 and the final
// checkpoint covers exactly n entries.
func CheckIndexes(r *Result, n int) error {
	if len(r.Indexes) != n {
		return fmt.Errorf("%s: %d indexes for %d entries", r.System, len(r.Indexes), n)
	}
	seen := make([]bool, n)
	for _, i := range r.Indexes {
		if i < 0 || i >= int64(n) {
			return fmt.Errorf("%s: index %d out of range [0,%d)", r.System, i, n)
		}
		if seen[i] {
			return fmt.Errorf("%s: index %d returned twice", r.System, i)
		}
		seen[i] = true
	}
	if r.FinalSize != int64(n) {
		return fmt.Errorf("%s: final signed checkpoint has size %d, want %d", r.System, r.FinalSize, n)
	}
	return nil
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vallum/vallum/internal/evidence"
)

// ackedEntry is an append the server acknowledged, with what was sent.
type ackedEntry struct {
	receipt evidence.Receipt
	payload []byte
	cycle   int
}

// TestCrashRecovery runs the real server, appends from many clients at
// once, SIGKILLs it mid-stream and restarts it on the same data directory,
// several times. Every acknowledged receipt must survive with the same
// leaf hash and payload, no index may be handed out twice, the latest
// signed checkpoint must cover every receipt, and the log must verify
// offline both in its crashed state and after the restart.
func TestCrashRecovery(t *testing.T) {
	const writers = 32
	cycles := 5
	if testing.Short() {
		cycles = 2
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	var acked []ackedEntry
	byIndex := make(map[int64]ackedEntry)
	lastCycle := 0          // acked[lastCycle:] are the last cycle's
	var maxIndex int64 = -1 // the largest acknowledged index
	for cycle := range cycles {
		s := startServer(t, dir, "--data", data)
		if cycle > 0 {
			// Every receipt of the last cycle, and a sample of the older
			// ones (all of them are checked at the end).
			check := slices.Clone(acked[lastCycle:])
			for range min(200, lastCycle) {
				check = append(check, acked[rand.IntN(lastCycle)])
			}
			checkAcked(t, s, check, maxIndex)
		}
		lastCycle = len(acked)
		before := s.logSize()

		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var fresh []ackedEntry
		var refused, transport []string
		firstAck := make(chan struct{})
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for seq := 0; ctx.Err() == nil; seq++ {
					payload := fmt.Appendf(nil, `{"cycle":%d,"writer":%d,"seq":%d,"note":"crash test"}`, cycle, w, seq)
					code, body, err := s.request(http.MethodPost, "/api/v1/log/entries?kind=crash", payload, true)
					if err != nil {
						mu.Lock()
						transport = append(transport, err.Error())
						mu.Unlock()
						continue // the server died: this append was never acknowledged
					}
					if code != http.StatusCreated {
						mu.Lock()
						refused = append(refused, fmt.Sprintf("HTTP %d: %s", code, body))
						mu.Unlock()
						continue
					}
					var r evidence.Receipt
					if err := json.Unmarshal(body, &r); err != nil {
						continue // cut off mid-answer: not acknowledged
					}
					mu.Lock()
					fresh = append(fresh, ackedEntry{receipt: r, payload: payload, cycle: cycle})
					if len(fresh) == 1 {
						close(firstAck)
					}
					mu.Unlock()
				}
			})
		}
		// Kill mid-stream: once appends are being acknowledged, after a
		// random delay.
		select {
		case <-firstAck:
		case <-time.After(10 * time.Second):
		}
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		s.kill()
		cancel()
		wg.Wait()

		if len(refused) > 0 {
			t.Fatalf("cycle %d: %d appends refused, first: %s", cycle, len(refused), refused[0])
		}
		if len(fresh) == 0 {
			t.Fatalf("cycle %d: no append was acknowledged within 10s (%d failed requests, first: %v)", cycle, len(transport), transport[:min(1, len(transport))])
		}
		if len(transport) == 0 {
			t.Fatalf("cycle %d: no append was in flight when the server was killed", cycle)
		}
		for _, a := range fresh {
			r := a.receipt
			if prev, dup := byIndex[r.Index]; dup {
				t.Fatalf("cycle %d: index %d acknowledged twice (first in cycle %d)", cycle, r.Index, prev.cycle)
			}
			if r.Index < before {
				t.Errorf("cycle %d: receipt index %d is below the log size %d at restart", cycle, r.Index, before)
			}
			if r.TreeSize < r.Index+1 {
				t.Errorf("cycle %d: receipt of entry %d has tree size %d", cycle, r.Index, r.TreeSize)
			}
			if r.LeafHash == (evidence.Receipt{}).LeafHash || r.Time == "" {
				t.Errorf("cycle %d: receipt of entry %d is incomplete: %+v", cycle, r.Index, r)
			}
			byIndex[r.Index] = a
			maxIndex = max(maxIndex, r.Index)
		}
		acked = append(acked, fresh...)
		t.Logf("cycle %d: log size %d at start, %d appends acknowledged before SIGKILL, %d cut off", cycle, before, len(fresh), len(transport))

		// Offline, in the state the crash left.
		verifyOffline(t, data)
	}

	s := startServer(t, dir, "--data", data)
	checkAcked(t, s, acked, maxIndex)
	if code := s.stop(syscall.SIGTERM); code != 0 {
		t.Errorf("server exit status after SIGTERM: got %d, want 0", code)
	}
	verifyOffline(t, data)
}

// checkAcked checks, on a restarted server, the given acknowledged
// entries and that the latest signed checkpoint covers maxIndex, the
// largest acknowledged index.
func checkAcked(t *testing.T, s *server, acked []ackedEntry, maxIndex int64) {
	t.Helper()
	size := s.logSize()
	if size < maxIndex+1 {
		t.Fatalf("after restart the log has %d entries, but entry %d was acknowledged", size, maxIndex)
	}

	vkey := strings.TrimSpace(string(s.get("/log/v1/vkey", false)))
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("GET /log/v1/vkey: %q is not a verifier key: %v", vkey, err)
	}
	c, err := evidence.OpenCheckpoint(s.get("/log/checkpoint", false), v.Name(), v)
	if err != nil {
		t.Fatalf("GET /log/checkpoint is not a checkpoint signed by the log key: %v", err)
	}
	if c.N < maxIndex+1 || c.N != size {
		t.Errorf("latest checkpoint: got size %d, want the log size %d, at least %d", c.N, size, maxIndex+1)
	}

	// The checkpoints that receipts named are kept and consistent with
	// the latest, and entries are proven in the latest tree.
	for range min(20, len(acked)) {
		checkProofs(t, s, v, c, acked[rand.IntN(len(acked))].receipt)
	}

	// The entries, with a few concurrent readers.
	work := make(chan ackedEntry)
	var mu sync.Mutex
	var problems []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for a := range work {
				if p := checkEntry(s, a); p != "" {
					mu.Lock()
					problems = append(problems, p)
					mu.Unlock()
				}
			}
		})
	}
	for _, a := range acked {
		work <- a
	}
	close(work)
	wg.Wait()
	for i, p := range problems {
		if i == 10 {
			t.Errorf("… and %d more", len(problems)-10)
			break
		}
		t.Error(p)
	}
	if len(problems) > 0 {
		t.FailNow()
	}
}

// checkProofs checks that the checkpoint of r's tree size, signed before
// the crash, is still served and is consistent with the latest checkpoint
// latest, and that r's entry is proven in latest's tree.
func checkProofs(t *testing.T, s *server, v note.Verifier, latest evidence.Checkpoint, r evidence.Receipt) {
	t.Helper()
	old, err := evidence.OpenCheckpoint(s.get(fmt.Sprintf("/log/v1/checkpoints/%d", r.TreeSize), false), v.Name(), v)
	if err != nil {
		t.Fatalf("checkpoint %d named by the receipt of entry %d: %v", r.TreeSize, r.Index, err)
	}
	if old.N != r.TreeSize {
		t.Fatalf("GET /log/v1/checkpoints/%d: got a checkpoint of size %d", r.TreeSize, old.N)
	}
	var cons struct {
		Proof tlog.TreeProof `json:"proof"`
	}
	if err := json.Unmarshal(s.get(fmt.Sprintf("/log/v1/proof/consistency?old=%d&new=%d", old.N, latest.N), false), &cons); err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(cons.Proof, latest.N, latest.Hash, old.N, old.Hash); err != nil {
		t.Fatalf("checkpoint %d signed before the crash is inconsistent with the latest (size %d): %v", old.N, latest.N, err)
	}
	var incl struct {
		Proof tlog.RecordProof `json:"proof"`
	}
	if err := json.Unmarshal(s.get(fmt.Sprintf("/log/v1/proof/inclusion?index=%d&size=%d", r.Index, latest.N), false), &incl); err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckRecord(incl.Proof, latest.N, latest.Hash, r.Index, r.LeafHash); err != nil {
		t.Fatalf("acknowledged entry %d isn't proven in the latest tree (size %d): %v", r.Index, latest.N, err)
	}
}

// checkEntry compares an entry on the server with its receipt and payload.
func checkEntry(s *server, a ackedEntry) string {
	i := a.receipt.Index
	code, b, err := s.request(http.MethodGet, fmt.Sprintf("/log/v1/entries/%d", i), nil, true)
	if err != nil || code != http.StatusOK {
		return fmt.Sprintf("acknowledged entry %d: GET: HTTP %d, %v: %s", i, code, err, b)
	}
	var e struct {
		Index    int64           `json:"index"`
		LeafHash string          `json:"leaf_hash"`
		Header   json.RawMessage `json:"header"`
		Payload  json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return fmt.Sprintf("acknowledged entry %d: %v", i, err)
	}
	if e.Index != i {
		return fmt.Sprintf("GET entry %d: got index %d", i, e.Index)
	}
	if e.LeafHash != a.receipt.LeafHash.String() {
		return fmt.Sprintf("acknowledged entry %d: leaf hash got %s, want %s (receipt)", i, e.LeafHash, a.receipt.LeafHash)
	}
	var got bytes.Buffer
	if err := json.Compact(&got, e.Payload); err != nil || !bytes.Equal(got.Bytes(), a.payload) {
		return fmt.Sprintf("acknowledged entry %d: payload got %s, want %s", i, e.Payload, a.payload)
	}
	return ""
}

// verifyOffline runs `vallum verify --data DIR` and fails unless it
// exits 0 with an ok summary.
func verifyOffline(t *testing.T, data string) {
	t.Helper()
	r := runBin(t, "", "", "verify", "--data", data)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ok:") {
		t.Fatalf("vallum verify --data %s: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", data, r.code, r.stdout, r.stderr)
	}
}

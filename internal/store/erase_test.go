package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
)

// eraseLogOnly wraps Files so that Erase does nothing: the erasure entry
// is logged but the payload stays, as after a crash between the two.
type eraseLogOnly struct{ *Files }

func (eraseLogOnly) Erase(int64) error { return errors.New("simulated crash before erasing") }

func TestInterruptedErasureIsCompletedAtOpen(t *testing.T) {
	dir := t.TempDir()
	k := newKeys(t)
	st, err := OpenFiles(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	l, err := evidence.Open(evidence.Config{Origin: testOrigin, Signer: k.signer, Verifier: k.verifier, Storage: eraseLogOnly{st}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	fill(t, l, 5, 1)
	if _, err := l.Erase(context.Background(), 2, "retention", "dpo"); err == nil {
		t.Fatal("erasure reported success though the payload was not erased")
	}
	l.Close()
	st.Close()
	if rep := verifyDir(t, dir, k); !rep.OK() || len(rep.Erased) != 0 || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "not yet carried out") {
		t.Fatalf("before restart: %s erased=%v, want ok with the payload still present and a warning", rep, rep.Erased)
	}

	l2, _ := openLog(t, dir, k) // completes the erasure
	e, err := l2.Entry(2)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Erased {
		t.Fatal("entry 2 not erased after restart")
	}
	if rep := verifyDir(t, dir, k); !rep.OK() || !slices.Equal(rep.Erased, []int64{2}) {
		t.Fatalf("after restart: %s erased=%v, want ok with entry 2 erased", rep, rep.Erased)
	}
}

func TestErasureKindIsReserved(t *testing.T) {
	k := newKeys(t)
	l, _ := openLog(t, t.TempDir(), k)
	fill(t, l, 2, 1)
	payload, _ := json.Marshal(evidence.ErasureRequest{Index: 0, Reason: "forged"})
	_, err := l.Append(context.Background(), evidence.Record{Kind: evidence.ErasureKind, Actor: "mallory", Payload: payload})
	if !errors.Is(err, evidence.ErrInvalid) {
		t.Fatalf("appending an erasure entry directly: got %v, want ErrInvalid", err)
	}
	if l.Size() != 2 {
		t.Errorf("log size %d, want 2", l.Size())
	}
}

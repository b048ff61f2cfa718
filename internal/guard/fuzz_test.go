package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// FuzzDecodeRequest: the decoder never panics, only returns *RequestError,
// and whatever it accepts re-encodes to a request it accepts again and the
// engine decides (remote kinds always deny).
func FuzzDecodeRequest(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*", "request.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	e, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(bytes.NewReader(b), 1<<16)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("got %T %v, want a *RequestError", err, err)
			}
			return
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeRequest(bytes.NewReader(again), 1<<20); err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		d := e.Decide(req, nil, now)
		if slices.Contains(alwaysDenied, req.Action.Kind) && d.Verdict != Deny {
			t.Fatalf("%s: got %q, want deny", req.Action.Kind, d.Verdict)
		}
	})
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"
)

func TestBothSystems(t *testing.T) {
	const n = 300
	s := Settings{
		Entries:              n,
		Writers:              16,
		Payload:              64,
		Dir:                  t.TempDir(),
		TesseraBatchAge:      10 * time.Millisecond,
		TesseraBatchSize:     256,
		TesseraCheckpoint:    100 * time.Millisecond,
		TesseraCheckpointPol: time.Millisecond,
	}
	v, ts, err := Run(context.Background(), s, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Result{v, ts} {
		if err := CheckIndexes(r, n); err != nil {
			t.Error(err)
		}
		if r.AppendsSec <= 0 || r.P50Durable <= 0 || r.P50Signed < r.P50Durable {
			t.Errorf("%s: implausible figures %+v", r.System, *r)
		}
	}
}

func TestCheckIndexesRejects(t *testing.T) {
	for _, idx := range [][]int64{{0, 1, 1}, {0, 1, 3}, {0, 1}} {
		if err := CheckIndexes(&Result{System: "x", Indexes: idx, FinalSize: 3}, 3); err == nil {
			t.Errorf("CheckIndexes(%v) accepted", idx)
		}
	}
	if err := CheckIndexes(&Result{System: "x", Indexes: []int64{2, 0, 1}, FinalSize: 2}, 3); err == nil {
		t.Error("CheckIndexes accepted a short final checkpoint")
	}
	if err := CheckIndexes(&Result{System: "x", Indexes: []int64{2, 0, 1}, FinalSize: 3}, 3); err != nil {
		t.Error(err)
	}
}

func TestPayloads(t *testing.T) {
	p, err := makePayloads(50, 256)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, b := range p {
		if len(b) != 256 || !jsonValid(b) || seen[string(b)] {
			t.Fatalf("bad payload %q", b)
		}
		seen[string(b)] = true
	}
}

func jsonValid(b []byte) bool { return json.Valid(b) }

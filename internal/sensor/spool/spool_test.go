package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vallum/vallum/internal/sensor"
)

func event(i int) sensor.Event {
	return sensor.Event{ID: fmt.Sprintf("ev-%04d", i), Sensor: "t", Kind: sensor.KindConnect, Details: map[string]string{"pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}
}

// drainAll reads and acknowledges everything, n at a time.
func drainAll(t *testing.T, s *Spool, n int) []string {
	t.Helper()
	var ids []string
	for {
		evs, cur, err := s.Peek(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return ids
		}
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
		if err := s.Ack(cur); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPutPeekAckAcrossSegmentsInOrder(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Config{MaxBytes: 1 << 20, SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := s.Put(event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "seg-*")); len(segs) < 5 {
		t.Fatalf("got %d segments, want several of 1 KiB", len(segs))
	}
	ids := drainAll(t, s, 7)
	if len(ids) != 100 {
		t.Fatalf("read %d events, want 100", len(ids))
	}
	for i, id := range ids {
		if want := event(i).ID; id != want {
			t.Fatalf("event %d: got %s, want %s", i, id, want)
		}
	}
	if st := s.Stats(); st.Events != 0 || st.Bytes != 0 {
		t.Errorf("after acknowledging everything: %+v, want empty", st)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "seg-*")); len(segs) != 1 {
		t.Errorf("got %d segment files left, want the writing one", len(segs))
	}
}

func TestFullSpoolRefuses(t *testing.T) {
	s, err := Open(t.TempDir(), Config{MaxBytes: 4096, SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; ; n++ {
		err := s.Put(event(n))
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 || s.Stats().Bytes > 4096 {
		t.Fatalf("took %d events, %d bytes; want some, at most 4096", n, s.Stats().Bytes)
	}
	drainAll(t, s, 1000)
	if err := s.Put(event(n)); err != nil {
		t.Errorf("after draining: %v, want room", err)
	}
}

func TestReopenResumesAndRepairsTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Config{SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		s.Put(event(i))
	}
	evs, cur, _ := s.Peek(10)
	if len(evs) != 10 {
		t.Fatalf("peeked %d", len(evs))
	}
	s.Ack(cur)
	s.Peek(5) // read but not acknowledged: must come back
	s.Close()
	// A crash mid-write leaves half a line at the end.
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	f, _ := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"id":"torn","sen`)
	f.Close()
	s, err = Open(dir, Config{SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Events != 20 {
		t.Errorf("after reopening: %d events, want 20", st.Events)
	}
	ids := drainAll(t, s, 100)
	if len(ids) != 20 || ids[0] != event(10).ID || ids[19] != event(29).ID {
		t.Errorf("after reopening read %v, want ev-0010 … ev-0029", ids)
	}
	if err := s.Put(event(99)); err != nil {
		t.Fatal(err)
	}
	if ids := drainAll(t, s, 10); len(ids) != 1 || ids[0] != event(99).ID {
		t.Errorf("after the torn line: got %v, want ev-0099 alone", ids)
	}
}

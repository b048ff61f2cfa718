package intake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// fakeOut is an Ingester that keeps the events it answers done, in the
// order it answers them. answer decides each event's status (accepted if
// nil); call counts the Ingest calls from 1.
type fakeOut struct {
	answer func(ctx context.Context, call int, e sensor.Event) string

	mu    sync.Mutex
	calls int
	done  []sensor.Event
}

func (o *fakeOut) Ingest(ctx context.Context, events []sensor.Event) []Result {
	o.mu.Lock()
	o.calls++
	call := o.calls
	o.mu.Unlock()
	out := make([]Result, len(events))
	for i, e := range events {
		status := Accepted
		if o.answer != nil {
			status = o.answer(ctx, call, e)
		}
		out[i] = Result{ID: e.ID, Status: status}
		if out[i].Done() {
			o.mu.Lock()
			o.done = append(o.done, e)
			o.mu.Unlock()
		}
	}
	return out
}

func (o *fakeOut) events() []sensor.Event {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]sensor.Event(nil), o.done...)
}

func (o *fakeOut) callCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls
}

// savedOffset is the offset a Tail on path saved in state.
func savedOffset(t *testing.T, path, state string) int64 {
	t.Helper()
	_, off := (&Tail{Path: path, StateDir: state}).loadState()
	return off
}

// wantLines checks that got are the events of lines, in order, with the
// IDs a Tail derives from path and each line's offset in the file.
func wantLines(t *testing.T, path string, got []sensor.Event, file string, lines ...int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	id := identify(fi)
	all := strings.SplitAfter(file, "\n")
	offsets := make([]int, len(all))
	for i := 1; i < len(all); i++ {
		offsets[i] = offsets[i-1] + len(all[i-1])
	}
	var want []string
	for _, n := range lines {
		origin := fmt.Sprintf("%s:%d:%d:%d", path, id.dev, id.ino, offsets[n])
		want = append(want, EVEID(origin, []byte(strings.TrimSpace(all[n]))))
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Errorf("got events %v, want lines %v: %v", ids, lines, want)
	}
}

// TestTailSavesOffsetOnlyPastFinalEvents stops a Tail while the log
// holds a chunk (Ingest blocks, then answers retry) and a later chunk is
// already read: the saved offset must stay before both, and a restart
// must ingest every line of both and none of the chunk that was final.
// After the restart an event answered retry is sent again, and the
// offset waits for it.
func TestTailSavesOffsetOnlyPastFinalEvents(t *testing.T) {
	dir := t.TempDir()
	path, state := filepath.Join(dir, "eve.json"), filepath.Join(dir, "state")
	a := eveLine(0) + eveLine(1) + eveLine(2)
	b := eveLine(3) + eveLine(4)
	c := eveLine(5) + eveLine(6)

	holding := make(chan struct{})
	out := &fakeOut{answer: func(ctx context.Context, call int, e sensor.Event) string {
		if call == 1 {
			return Accepted
		}
		if e.Command == "test 3" {
			close(holding)
		}
		<-ctx.Done() // the log never answers, until the Tail stops
		return Retry
	}}
	appendFile(t, path, a)
	stop := runTail(t, path, state, out)
	waitFor(t, "the first chunk saved", func() bool { return savedOffset(t, path, state) == int64(len(a)) })
	appendFile(t, path, b)
	<-holding
	appendFile(t, path, c)
	time.Sleep(200 * time.Millisecond) // time to read and parse c
	if got := savedOffset(t, path, state); got != int64(len(a)) {
		t.Errorf("offset saved while the second chunk is in flight: got %d, want %d", got, len(a))
	}
	stop()
	if got := savedOffset(t, path, state); got != int64(len(a)) {
		t.Errorf("offset saved after the second chunk was answered retry: got %d, want %d", got, len(a))
	}
	wantLines(t, path, out.events(), a+b+c, 0, 1, 2)

	// Restarted, the Tail reads b and c again. The log answers retry to
	// line 4 once; the offset waits for it.
	out = &fakeOut{answer: func(ctx context.Context, call int, e sensor.Event) string {
		if call == 1 && e.Command == "test 4" {
			return Retry
		}
		return Accepted
	}}
	stop = runTail(t, path, state, out)
	waitFor(t, "the first Ingest call", func() bool { return out.callCount() > 0 })
	if got := savedOffset(t, path, state); got != int64(len(a)) {
		t.Errorf("offset saved while an event waits to be sent again: got %d, want %d", got, len(a))
	}
	all := int64(len(a + b + c))
	waitFor(t, "every line saved", func() bool { return savedOffset(t, path, state) == all })
	stop()
	got := out.events()
	if len(got) == 4 { // retried last, after the rest of its chunk
		got[1], got[2], got[3] = got[3], got[1], got[2]
	}
	wantLines(t, path, got, a+b+c, 3, 4, 5, 6)
}

// TestTailLargeFile reads a file of several chunks: every line's event
// comes once, in file order, with its ID, and the offset ends at the end.
func TestTailLargeFile(t *testing.T) {
	dir := t.TempDir()
	path, state := filepath.Join(dir, "eve.json"), filepath.Join(dir, "state")
	var file strings.Builder
	n := 0
	for file.Len() < tailChunk+tailChunk/2 {
		line := eveLine(n)
		if n%1000 == 999 {
			line = `{"not eve` + "\n" // skipped, and counted as a line
		}
		file.WriteString(line)
		n++
	}
	appendFile(t, path, file.String())
	out := &fakeOut{}
	stop := runTail(t, path, state, out)
	waitFor(t, "every line saved", func() bool { return savedOffset(t, path, state) == int64(file.Len()) })
	stop()
	var lines []int
	for i := range n {
		if i%1000 != 999 {
			lines = append(lines, i)
		}
	}
	got := out.events()
	wantLines(t, path, got, file.String(), lines...)
	for i, e := range got[:min(len(got), 5)] {
		if want := "test " + strconv.Itoa(i); e.Command != want {
			t.Errorf("event %d: command %q, want %q", i, e.Command, want)
		}
	}
}

// BenchmarkTailParse measures Tail.parse on one 4 MiB chunk of EVE
// lines; read ns/op over lines/op for ns per line.
func BenchmarkTailParse(b *testing.B) {
	lines := readLines(b, "eve-corpus.ndjson")[:9]
	var buf []byte
	n := 0
	for len(buf) < tailChunk-1000 {
		buf = append(append(buf, lines[n%len(lines)]...), '\n')
		n++
	}
	tl := &Tail{Path: "/var/log/suricata/eve.json", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		tl.parse(buf, "/var/log/suricata/eve.json:2049:1234567:", 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
}

// TestTailParseParts parses one chunk with 1 to 3 parsers: the events
// are those of ParseEVE and EVEID line by line, in order, whatever the
// cut (blank, bad and skipped lines included).
func TestTailParseParts(t *testing.T) {
	corpus := readLines(t, "eve-corpus.ndjson")
	var buf []byte
	for len(buf) < parallelParse+parallelParse/2 {
		for _, l := range corpus {
			buf = append(append(buf, l...), '\n')
			if len(buf)%7 == 0 {
				buf = append(buf, "  \n"...)
			}
		}
	}
	buf = append(buf, `{"timestamp":"2026-11-28T10:15:02+0000","event_type":"alert"`...) // not complete
	const origin, base = "eve.json:1:2:", 1000
	var want []sensor.Event
	for off, rest := 0, buf; ; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(rest[:i])
		if e, err := ParseEVE(line, nil, "ids"); err == nil {
			e.ID = EVEID(origin+strconv.Itoa(base+off), line)
			want = append(want, e)
		}
		off, rest = off+i+1, rest[i+1:]
	}
	tl := &Tail{Path: "eve.json", Sensor: "ids", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for procs := 1; procs <= 3; procs++ {
		runtime.GOMAXPROCS(procs)
		got, used := tl.parse(buf, origin, base)
		if want := bytes.LastIndexByte(buf, '\n') + 1; used != want {
			t.Errorf("%d parsers: used %d bytes, want %d", procs, used, want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%d parsers: got %d events, want %d, or not the same", procs, len(got), len(want))
		}
	}
}

// TestTailTruncationSavesStart: after the file is truncated in place and
// written again, a stop while the new lines are not yet final leaves the
// saved offset at the start, so that the next run reads them, not the
// offset of the old content.
func TestTailTruncationSavesStart(t *testing.T) {
	dir := t.TempDir()
	path, state := filepath.Join(dir, "eve.json"), filepath.Join(dir, "state")
	for i := range 20 {
		appendFile(t, path, eveLine(i))
	}
	block := make(chan struct{})
	out := &fakeOut{answer: func(ctx context.Context, call int, e sensor.Event) string {
		if call == 1 {
			return Accepted
		}
		select { // the lines written after the truncation stay pending
		case <-block:
		case <-ctx.Done():
		}
		return Retry
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	tl := &Tail{Path: path, StateDir: state, Poll: time.Millisecond, Sensor: "ids", Out: out, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go func() { done <- tl.Run(ctx) }()
	waitFor(t, "the first lines", func() bool { return savedOffset(t, path, state) > 0 })
	old := savedOffset(t, path, state)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // shorter than before, so the tail sees the truncation
		appendFile(t, path, eveLine(100+i))
	}
	waitFor(t, "the new lines to be sent", func() bool { return out.callCount() >= 2 })
	for i := range 40 { // the file grows past the old offset meanwhile
		appendFile(t, path, eveLine(200+i))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(block)
	if got := savedOffset(t, path, state); got != 0 {
		t.Errorf("saved offset %d after a truncation with the new lines pending (old offset %d), want 0", got, old)
	}
}

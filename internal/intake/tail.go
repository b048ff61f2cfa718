package intake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// Ingester takes events and answers once each is final; *Pipeline
// implements it.
type Ingester interface {
	Ingest(ctx context.Context, events []sensor.Event) []Result
}

var _ Ingester = (*Pipeline)(nil)

// Tail follows a Suricata EVE JSON file: it reads complete lines as they
// are appended, follows rotation (a new file under the path: the old one
// is read to its end first) and truncation (read again from the start),
// and remembers its offset across restarts in StateDir. The offset moves
// only once every event before it is final in the pipeline, so a crash
// reads some lines again and their IDs (from the file's identity, the
// line's offset and its bytes) make them duplicates, never losses.
type Tail struct {
	Path     string
	StateDir string
	Poll     time.Duration
	// Types are the EVE types taken (EVETypes if nil).
	Types  []string
	Sensor string
	Out    Ingester
	Logger *slog.Logger
}

// tailChunk is how much is read and ingested at once; it also bounds one
// EVE record: a longer line is skipped, with a warning.
const tailChunk = 4 << 20

type fileID struct{ dev, ino uint64 }

func identify(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(st.Dev), uint64(st.Ino)}
	}
	return fileID{}
}

func (t *Tail) stateFile() string {
	sum := sha256.Sum256([]byte(t.Path))
	return filepath.Join(t.StateDir, "eve-"+hex.EncodeToString(sum[:8])+".offset")
}

func (t *Tail) loadState() (fileID, int64) {
	b, err := os.ReadFile(t.stateFile())
	if err != nil {
		return fileID{}, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return fileID{}, 0
	}
	dev, _ := strconv.ParseUint(f[0], 10, 64)
	ino, _ := strconv.ParseUint(f[1], 10, 64)
	off, _ := strconv.ParseInt(f[2], 10, 64)
	return fileID{dev, ino}, off
}

func (t *Tail) saveState(id fileID, off int64) error {
	tmp := t.stateFile() + ".tmp"
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d %d\n", id.dev, id.ino, off), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, t.stateFile())
}

// Run follows the file until ctx ends. A missing file is waited for.
//
// Two goroutines share the work. Run's own, the reader, reads and
// parses the file; the committer hands each parsed chunk to Out and
// saves the offset past it once all its events are final. The reader parses the next
// chunk while the committer waits on the log, and blocks until the
// committer takes it: at most two chunks are parsed and not yet final.
// Chunks are committed in the order they were read.
func (t *Tail) Run(ctx context.Context) error {
	if t.Poll <= 0 {
		t.Poll = 250 * time.Millisecond
	}
	if t.Logger == nil {
		t.Logger = slog.Default()
	}
	if err := os.MkdirAll(t.StateDir, 0o700); err != nil {
		return fmt.Errorf("couldn't create the tail state directory: %w", err)
	}
	chunks := make(chan chunk)
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		t.commit(ctx, chunks)
	}()
	err := t.read(ctx, chunks)
	close(chunks)
	<-committed
	return err
}

// chunk is the events of the complete lines of one read, and where the
// file is to be read from once they are final.
type chunk struct {
	id     fileID
	end    int64
	events []sensor.Event
}

// commit ingests the chunks in order and saves the offset of each once
// every one of its events is final. When ctx ends it returns, leaving
// the rest to be read again after a restart.
func (t *Tail) commit(ctx context.Context, chunks <-chan chunk) {
	for c := range chunks {
		if !t.ingest(ctx, c.events) {
			return
		}
		if err := t.saveState(c.id, c.end); err != nil {
			t.Logger.Error("couldn't save the EVE offset", "path", t.Path, "err", err)
		}
	}
}

// ingest hands events to Out until each is final, trying the ones
// answered "retry" again after a second. It reports false if ctx ended
// first.
func (t *Tail) ingest(ctx context.Context, events []sensor.Event) bool {
	for len(events) > 0 {
		var retry []sensor.Event
		for i, r := range t.Out.Ingest(ctx, events) {
			if !r.Done() {
				retry = append(retry, events[i])
			}
		}
		if len(retry) > 0 {
			if ctx.Err() != nil {
				return false
			}
			sleep(ctx, time.Second)
		}
		events = retry
	}
	return true
}

// read follows the file, sending the events of each read's complete
// lines (and each skipped over-long line) to chunks, until ctx ends.
func (t *Tail) read(ctx context.Context, chunks chan<- chunk) error {
	savedID, savedOff := t.loadState()
	var f *os.File
	var id fileID
	var off int64 // the file offset of buf[0]
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	send := func(c chunk) bool {
		select {
		case chunks <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	warned := false
	buf := make([]byte, 0, tailChunk)
	var origin string // of the lines of f; see lineIDs
	for ctx.Err() == nil {
		if f == nil {
			nf, err := os.Open(t.Path)
			if err != nil {
				if !warned {
					t.Logger.Warn("waiting for the EVE file", "path", t.Path, "err", err)
					warned = true
				}
				sleep(ctx, t.Poll)
				continue
			}
			warned = false
			fi, err := nf.Stat()
			if err != nil {
				nf.Close()
				return err
			}
			f, id, off = nf, identify(fi), 0
			if id == savedID && savedOff <= fi.Size() {
				off = savedOff
			}
			origin = fmt.Sprintf("%s:%d:%d:", t.Path, id.dev, id.ino)
			buf = buf[:0]
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				return err
			}
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if n > 0 {
			events, used := t.parse(buf, origin, off)
			start := off
			off += int64(used)
			buf = buf[:copy(buf, buf[used:])]
			if len(buf) == cap(buf) { // one line longer than the buffer
				t.Logger.Warn("skipped an over-long EVE line", "path", t.Path, "offset", off)
				off += int64(len(buf))
				buf = buf[:0]
				skipLine(f, &off)
			}
			if off > start && !send(chunk{id: id, end: off, events: events}) {
				return nil
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("couldn't read %s: %w", t.Path, err)
		}
		// At the end: has the file been rotated or truncated?
		fi, serr := os.Stat(t.Path)
		cur, _ := f.Stat()
		switch {
		case serr == nil && identify(fi) != id:
			t.Logger.Info("EVE file rotated; following the new one", "path", t.Path)
			f.Close()
			f, savedID = nil, fileID{}
			continue
		case cur != nil && cur.Size() < off:
			t.Logger.Info("EVE file truncated; reading it from the start", "path", t.Path)
			off, buf = 0, buf[:0]
			f.Seek(0, io.SeekStart)
			// Have the committer save offset 0 right after the chunks
			// before the truncation: a stop before the new lines are
			// final then reads them again, instead of resuming at the
			// old offset in the new content.
			if !send(chunk{id: id, end: 0}) {
				return nil
			}
			continue
		}
		sleep(ctx, t.Poll)
	}
	return nil
}

// skipLine reads f up to and past the next newline.
func skipLine(f *os.File, off *int64) {
	b := make([]byte, 64<<10)
	for {
		n, err := f.Read(b)
		if i := bytes.IndexByte(b[:n], '\n'); i >= 0 {
			*off += int64(i + 1)
			f.Seek(*off, io.SeekStart)
			return
		}
		*off += int64(n)
		if err != nil {
			return
		}
	}
}

// parallelParse is the least a chunk must hold for its lines to be
// parsed by several goroutines.
const parallelParse = 256 << 10

// parse parses the complete lines of buf (which starts at file offset
// base) and returns their events, in order, and how many bytes they
// took. The IDs are derived from origin (see lineIDs). A large chunk is
// cut at line ends into one part per CPU, parsed side by side, each into
// its own stretch of the events.
func (t *Tail) parse(buf []byte, origin string, base int64) ([]sensor.Event, int) {
	end := bytes.LastIndexByte(buf, '\n') + 1
	if end == 0 {
		return nil, 0
	}
	parts := 1
	if end >= parallelParse {
		parts = runtime.GOMAXPROCS(0)
	}
	type part struct {
		lines  []byte
		off    int64
		n      int            // lines
		events []sensor.Event // a stretch of all, one slot per line
		bad    int
	}
	ps := make([]part, parts)
	lines, start := 0, 0
	for i := range ps {
		stop := end
		if i < parts-1 {
			stop = max(start, end*(i+1)/parts)
			stop += bytes.IndexByte(buf[stop:end], '\n') + 1
		}
		p := &ps[i]
		p.lines, p.off = buf[start:stop], base+int64(start)
		p.n = bytes.Count(p.lines, []byte{'\n'})
		lines += p.n
		start = stop
	}
	all := make([]sensor.Event, lines)
	var wg sync.WaitGroup
	at := 0
	for i := range ps {
		p := &ps[i]
		p.events = all[at : at : at+p.n]
		at += p.n
		parse := func() {
			ids := lineIDs{prefix: origin}
			p.events, p.bad = t.parseLines(p.events, p.lines, &ids, p.off)
		}
		if parts == 1 {
			parse()
		} else {
			wg.Go(parse)
		}
	}
	wg.Wait()
	n, bad := 0, 0
	for _, p := range ps {
		n += copy(all[n:], p.events)
		bad += p.bad
	}
	clear(all[n:])
	if bad > 0 {
		t.Logger.Warn("skipped EVE lines that are not EVE JSON", "path", t.Path, "lines", bad)
	}
	return all[:n], end
}

// parseLines appends to events those of lines (complete lines, which
// start at file offset base), and returns how many were not EVE JSON.
func (t *Tail) parseLines(events []sensor.Event, lines []byte, ids *lineIDs, base int64) ([]sensor.Event, int) {
	bad := 0
	for pos := 0; pos < len(lines); {
		i := bytes.IndexByte(lines[pos:], '\n')
		line := bytes.TrimSpace(lines[pos : pos+i])
		lineOff := base + int64(pos)
		pos += i + 1
		if len(line) == 0 {
			continue
		}
		e, err := ParseEVE(line, t.Types, t.Sensor)
		if errors.Is(err, ErrSkipped) {
			continue
		}
		if err != nil {
			bad++
			continue
		}
		e.ID = ids.id(lineOff, line)
		events = append(events, e)
	}
	return events, bad
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

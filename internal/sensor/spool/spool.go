// Package spool is a bounded disk queue of sensor events: what a remote
// sensor holds while the server is unreachable, and where the server's
// event pipeline puts its overflow while the evidence log is slow.
//
// Events are appended as JSON lines to segment files (seg-<n>.ndjson) in
// one directory. A single consumer reads from the oldest segment (Peek),
// and acknowledges what it has durably handed on (Ack); a segment is
// deleted once all of it is acknowledged. The read position is kept in a
// small cursor file, so after a crash at most the events read but not yet
// acknowledged are read again: consumers deduplicate by Event.ID.
//
// The spool never grows past MaxBytes: Put returns ErrFull and the caller
// counts the drop (the overflow policy is the caller's, and documented
// there).
package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vallum/vallum/internal/sensor"
)

// ErrFull is returned by Put when the event would take the spool past
// its MaxBytes.
var ErrFull = errors.New("spool is full")

// Config bounds a spool.
type Config struct {
	// MaxBytes bounds the bytes on disk (default 1 GiB).
	MaxBytes int64
	// SegmentBytes is the size at which a new segment is begun (default
	// 4 MiB).
	SegmentBytes int64
	// MaxEvent bounds one encoded event; larger ones are refused by Put
	// (default 1 MiB).
	MaxEvent int
}

// Spool is a disk queue of events. It is safe for concurrent use by any
// number of producers (Put) and one consumer (Peek, Ack).
type Spool struct {
	dir string
	cfg Config

	mu sync.Mutex // guards everything below
	// segs are the segment numbers on disk, oldest first; the last one is
	// open for writing as w.
	segs  []uint64
	w     *os.File
	wSize int64
	// bytes is the total size of the segments on disk.
	bytes int64
	// read is the consumer's position: segment segs[0] at offset readOff.
	readOff int64
	// count is the number of events not yet acknowledged (approximate
	// after a restart: recounted from the files).
	count   int64
	skipped int64 // malformed lines skipped while reading
	dirty   bool  // written since the last Sync
	closed  bool
}

// Cursor is a position returned by Peek, to be passed to Ack.
type Cursor struct {
	seg uint64
	off int64
	n   int64
}

const cursorFile = "cursor"

// Open opens (creating) a spool in dir (mode 0700). A segment cut short
// by a crash is truncated to its last complete line.
func Open(dir string, cfg Config) (*Spool, error) {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 30
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = 4 << 20
	}
	if cfg.MaxEvent <= 0 {
		cfg.MaxEvent = 1 << 20
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("couldn't create spool directory: %w", err)
	}
	s := &Spool{dir: dir, cfg: cfg}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("couldn't read spool directory: %w", err)
	}
	for _, de := range names {
		n, ok := segNumber(de.Name())
		if ok {
			s.segs = append(s.segs, n)
		}
	}
	slices.Sort(s.segs)
	for _, n := range s.segs {
		st, err := os.Stat(s.segPath(n))
		if err != nil {
			return nil, err
		}
		s.bytes += st.Size()
	}
	if len(s.segs) > 0 {
		if err := s.repairTail(); err != nil {
			return nil, err
		}
	}
	s.readCursor()
	if err := s.openWriter(); err != nil {
		return nil, err
	}
	s.count = s.recount()
	return s, nil
}

func segNumber(name string) (uint64, bool) {
	num, ok := strings.CutPrefix(name, "seg-")
	if !ok {
		return 0, false
	}
	num, ok = strings.CutSuffix(num, ".ndjson")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(num, 10, 64)
	return n, err == nil
}

func (s *Spool) segPath(n uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("seg-%016d.ndjson", n))
}

// repairTail truncates the newest segment after its last newline.
func (s *Spool) repairTail() error {
	p := s.segPath(s.segs[len(s.segs)-1])
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("couldn't read spool segment: %w", err)
	}
	keep := int64(bytes.LastIndexByte(b, '\n') + 1)
	if keep == int64(len(b)) {
		return nil
	}
	s.bytes -= int64(len(b)) - keep
	return os.Truncate(p, keep)
}

// readCursor loads the consumer position; a missing or stale cursor
// starts at the oldest segment's beginning.
func (s *Spool) readCursor() {
	if len(s.segs) == 0 {
		return
	}
	b, err := os.ReadFile(filepath.Join(s.dir, cursorFile))
	if err != nil {
		return
	}
	var seg uint64
	var off int64
	if _, err := fmt.Sscanf(string(b), "%d %d", &seg, &off); err != nil || seg != s.segs[0] || off < 0 {
		return
	}
	if st, err := os.Stat(s.segPath(seg)); err == nil && off <= st.Size() {
		s.readOff = off
	}
}

// openWriter opens the newest segment for appending, or a new one.
func (s *Spool) openWriter() error {
	if len(s.segs) == 0 {
		s.segs = append(s.segs, 1)
	}
	n := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(s.segPath(n), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("couldn't open spool segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.w, s.wSize = f, st.Size()
	return nil
}

// recount counts the unacknowledged lines on disk.
func (s *Spool) recount() int64 {
	var n int64
	for i, seg := range s.segs {
		f, err := os.Open(s.segPath(seg))
		if err != nil {
			continue
		}
		if i == 0 {
			f.Seek(s.readOff, io.SeekStart)
		}
		r := bufio.NewReaderSize(f, 64<<10)
		for {
			line, err := r.ReadSlice('\n')
			if len(line) > 0 && line[len(line)-1] == '\n' {
				n++
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				break
			}
		}
		f.Close()
	}
	return n
}

// Put appends e. It returns ErrFull when the spool has no room, and an
// error wrapping the cause when the disk refuses the write; the event is
// then not in the spool.
func (s *Spool) Put(e sensor.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("couldn't encode event: %w", err)
	}
	if len(b) > s.cfg.MaxEvent {
		return fmt.Errorf("event %q is %d bytes, the spool takes at most %d", e.ID, len(b), s.cfg.MaxEvent)
	}
	b = append(b, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("spool is closed")
	}
	if s.bytes+int64(len(b)) > s.cfg.MaxBytes {
		return ErrFull
	}
	if s.wSize > 0 && s.wSize+int64(len(b)) > s.cfg.SegmentBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	n, err := s.w.Write(b)
	s.wSize += int64(n)
	s.bytes += int64(n)
	if err != nil {
		// A short write leaves a partial line: cut it off so the next
		// line starts clean.
		if n > 0 {
			if terr := s.w.Truncate(s.wSize - int64(n)); terr == nil {
				s.wSize -= int64(n)
				s.bytes -= int64(n)
			}
		}
		return fmt.Errorf("couldn't write to the spool: %w", err)
	}
	s.count++
	s.dirty = true
	return nil
}

// rotate syncs and closes the writing segment and begins the next.
func (s *Spool) rotate() error {
	if err := s.w.Sync(); err != nil {
		return fmt.Errorf("couldn't sync spool segment: %w", err)
	}
	if err := s.w.Close(); err != nil {
		return err
	}
	s.segs = append(s.segs, s.segs[len(s.segs)-1]+1)
	return s.openWriter()
}

// Sync makes every Put so far durable.
func (s *Spool) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty || s.closed {
		return nil
	}
	s.dirty = false
	return s.w.Sync()
}

// Peek returns up to max events from the consumer's position on, and the
// cursor that acknowledges them. It returns no events when the spool is
// empty. Malformed lines (which only a damaged disk produces) are skipped
// and counted in Stats.
func (s *Spool) Peek(max int) ([]sensor.Event, Cursor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sensor.Event
	seg, off := s.segs[0], s.readOff
	var n int64
	for i := 0; i < len(s.segs) && len(out) < max; i++ {
		if i > 0 {
			seg, off = s.segs[i], 0
		}
		f, err := os.Open(s.segPath(seg))
		if err != nil {
			return nil, Cursor{}, fmt.Errorf("couldn't open spool segment: %w", err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, Cursor{}, err
		}
		r := bufio.NewReaderSize(f, 64<<10)
		for len(out) < max {
			line, err := readLine(r, s.cfg.MaxEvent+1)
			if len(line) == 0 || line[len(line)-1] != '\n' {
				break // end of the segment (or a line still being written)
			}
			off += int64(len(line))
			n++
			var e sensor.Event
			if json.Unmarshal(line, &e) != nil || e.ID == "" {
				s.skipped++
				continue
			}
			out = append(out, e)
			if err != nil {
				break
			}
		}
		f.Close()
		if len(out) >= max {
			break
		}
		if i == len(s.segs)-1 {
			break
		}
	}
	return out, Cursor{seg: seg, off: off, n: n}, nil
}

// readLine reads one line up to max bytes; a longer line is read whole
// and returned (the caller finds it malformed when it can't decode it).
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull && len(buf) < 64*max {
			continue
		}
		return buf, err
	}
}

// Ack acknowledges everything Peek returned up to c: segments before c's
// are deleted and the read position is saved.
func (s *Spool) Ack(c Cursor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segs) > 1 && s.segs[0] < c.seg {
		p := s.segPath(s.segs[0])
		if st, err := os.Stat(p); err == nil {
			s.bytes -= st.Size()
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("couldn't delete spool segment: %w", err)
		}
		s.segs = s.segs[1:]
	}
	if len(s.segs) == 0 || s.segs[0] != c.seg {
		return nil
	}
	s.readOff = c.off
	s.count = max(0, s.count-c.n)
	// The writing segment, fully read, is emptied in place so the spool
	// does not keep acknowledged bytes.
	if len(s.segs) == 1 && s.readOff == s.wSize && s.wSize > 0 {
		if err := s.w.Truncate(0); err == nil {
			s.bytes -= s.wSize
			s.wSize, s.readOff = 0, 0
		}
	}
	tmp := filepath.Join(s.dir, cursorFile+".tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", s.segs[0], s.readOff), 0o600); err != nil {
		return fmt.Errorf("couldn't save spool cursor: %w", err)
	}
	return os.Rename(tmp, filepath.Join(s.dir, cursorFile))
}

// Stats is what a spool holds.
type Stats struct {
	// Events is the number of events not yet acknowledged.
	Events int64 `json:"events"`
	// Bytes is the size on disk, acknowledged bytes of the oldest segment
	// included.
	Bytes int64 `json:"bytes"`
	// Skipped counts malformed lines skipped while reading.
	Skipped int64 `json:"skipped"`
}

// Stats returns what the spool holds now.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Events: s.count, Bytes: s.bytes, Skipped: s.skipped}
}

// Close syncs and closes the spool.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.w.Sync()
	return errors.Join(err, s.w.Close())
}

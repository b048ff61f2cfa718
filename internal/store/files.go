// Package store holds Vallum's durable storage: the evidence log's
// append-only file (Files), and the SQL database (SQLite by default) that
// keeps indexes and projections of the log.
package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/vallum/vallum/internal/atomicfile"
	"github.com/vallum/vallum/internal/evidence"
	"golang.org/x/mod/sumdb/tlog"
)

// The log file is a sequence of frames: a type byte, a big-endian 32-bit
// body length and the body. A committed batch is its entry frames, one
// hashes frame and one checkpoint frame, written with one write and made
// durable with one fdatasync. Anything after the last checkpoint frame was
// never acknowledged (a torn write) and is moved aside at open.
const (
	frameEntry      = 'E' // u16 header length | header | flags | salt | payload
	frameHashes     = 'H' // u64 first stored-hash index | 32-byte hashes
	frameCheckpoint = 'C' // signed checkpoint note
	frameHeaderSize = 5
	flagErased      = 1
	// maxFrame bounds a frame body; payloads are far smaller.
	maxFrame = 64 << 20
)

// LogFileName is the name of the log file in its directory.
const LogFileName = "evidence.log"

// Files is the evidence log's storage in one append-only file. It is safe
// for one writer (Commit, Erase) and concurrent readers.
type Files struct {
	path   string
	f      *os.File
	logger *slog.Logger

	// alloc is the file's size: the log ends at end, and the bytes from
	// end to alloc are zeros written ahead (see Commit). Writer-owned.
	alloc int64

	mu       sync.RWMutex // guards the fields below
	end      int64        // offset where the next batch goes
	offsets  []int64      // entry frame offsets, by index
	hashRuns []hashRun    // hashes frames, by first stored-hash index
	cps      []cpRef      // checkpoint frames, by size
	erasures []int64      // indexes of erasure entries
	nhashes  int64
}

type hashRun struct {
	first int64 // first stored-hash index
	off   int64 // file offset of the first hash
	n     int64
}

type cpRef struct {
	size int64
	off  int64
	len  int64
}

var _ evidence.Storage = (*Files)(nil)

// OpenFiles opens (creating if needed) the log file in dir for writing.
// A torn tail left by a crash (bytes after the last complete, valid batch)
// is moved to a file named evidence.log.torn-<time> beside the log and
// truncated, and a warning is logged.
func OpenFiles(dir string, logger *slog.Logger) (*Files, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("couldn't create log directory: %w", err)
	}
	path := filepath.Join(dir, LogFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't open log file: %w", err)
	}
	s := &Files{path: path, f: f, logger: logger}
	if err := s.load(); err != nil {
		f.Close()
		return nil, err
	}
	if err := s.clearTail(); err != nil {
		f.Close()
		return nil, err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the file.
func (s *Files) Close() error { return s.f.Close() }

// load scans the file and indexes its committed batches; s.end is then
// the end of the last one, and clearTail deals with what follows.
func (s *Files) load() error {
	fi, err := s.f.Stat()
	if err != nil {
		return err
	}
	var pendingEntries []int64
	var pendingHashes []hashRun
	var pendingErasures []int64
	err = ScanFrames(bufio.NewReaderSize(io.NewSectionReader(s.f, 0, fi.Size()), 1<<20), func(fr Frame) error {
		switch fr.Type {
		case frameEntry:
			if len(fr.Header) >= len(erasurePrefix) && bytes.HasPrefix(fr.Header, erasurePrefix) {
				pendingErasures = append(pendingErasures, int64(len(s.offsets)+len(pendingEntries)))
			}
			pendingEntries = append(pendingEntries, fr.Offset)
		case frameHashes:
			pendingHashes = append(pendingHashes, hashRun{first: fr.FirstHash, off: fr.Offset + frameHeaderSize + 8, n: int64(len(fr.Hashes))})
		case frameCheckpoint:
			size, err := evidence.CheckpointSize(fr.Body)
			if err != nil {
				return &FrameError{Offset: fr.Offset, Err: err}
			}
			n := int64(len(s.offsets) + len(pendingEntries))
			if size != n {
				return &FrameError{Offset: fr.Offset, Err: fmt.Errorf("checkpoint has size %d after %d entries", size, n)}
			}
			var nh int64
			for _, r := range pendingHashes {
				if r.first != s.nhashes+nh {
					return &FrameError{Offset: fr.Offset, Err: fmt.Errorf("hashes frame starts at stored hash %d, want %d", r.first, s.nhashes+nh)}
				}
				nh += r.n
			}
			if s.nhashes+nh != tlog.StoredHashCount(n) {
				return &FrameError{Offset: fr.Offset, Err: fmt.Errorf("batch has %d stored hashes, want %d", s.nhashes+nh, tlog.StoredHashCount(n))}
			}
			s.offsets = append(s.offsets, pendingEntries...)
			s.hashRuns = append(s.hashRuns, pendingHashes...)
			s.erasures = append(s.erasures, pendingErasures...)
			s.nhashes += nh
			s.cps = append(s.cps, cpRef{size: size, off: fr.Offset + frameHeaderSize, len: int64(len(fr.Body))})
			s.end = fr.Offset + frameHeaderSize + int64(len(fr.Body))
			pendingEntries, pendingHashes, pendingErasures = pendingEntries[:0], pendingHashes[:0], pendingErasures[:0]
		}
		return nil
	})
	var te *TornError
	var fe *FrameError
	if errors.As(err, &te) {
		err = nil
	} else if errors.As(err, &fe) {
		var last []byte
		if len(s.cps) > 0 {
			c := s.cps[len(s.cps)-1]
			last = make([]byte, c.len)
			if _, rerr := s.f.ReadAt(last, c.off); rerr != nil {
				return rerr
			}
		}
		torn, terr := tornAfter(s.f, fe.Offset, fi.Size(), last)
		if terr != nil {
			return terr
		}
		if torn {
			s.logger.Warn("malformed bytes after the last committed batch: a torn write", "offset", fe.Offset, "err", fe.Err)
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("log file %s: %w (run 'vallum verify')", s.path, err)
	}
	if err := s.checkLastBatch(); err != nil {
		// The last batch is not what its checkpoint says: it was torn by
		// a crash before its fdatasync returned, so it was never
		// acknowledged. Drop it too.
		s.logger.Warn("last batch of the log is torn; setting it aside", "err", err)
		s.dropLastBatch()
	}
	s.alloc = fi.Size()
	return nil
}

// checkLastBatch recomputes the leaf hashes of the last batch and compares
// them with its stored hashes.
func (s *Files) checkLastBatch() error {
	if len(s.cps) == 0 {
		return nil
	}
	start := int64(0)
	if len(s.cps) > 1 {
		start = s.cps[len(s.cps)-2].size
	}
	for i := start; i < int64(len(s.offsets)); i++ {
		e, err := s.ReadEntry(i)
		if err != nil {
			return err
		}
		got, err := s.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
		if err != nil {
			return err
		}
		if got[0] != evidence.LeafHash(e.Header) {
			return fmt.Errorf("entry %d doesn't match its stored leaf hash", i)
		}
	}
	return nil
}

func (s *Files) dropLastBatch() {
	start := int64(0)
	end := int64(0)
	if len(s.cps) > 1 {
		prev := s.cps[len(s.cps)-2]
		start, end = prev.size, prev.off+prev.len
	}
	s.offsets = s.offsets[:start]
	s.cps = s.cps[:len(s.cps)-1]
	nh := tlog.StoredHashCount(start)
	for len(s.hashRuns) > 0 && s.hashRuns[len(s.hashRuns)-1].first >= nh {
		s.hashRuns = s.hashRuns[:len(s.hashRuns)-1]
	}
	s.nhashes = nh
	for len(s.erasures) > 0 && s.erasures[len(s.erasures)-1] >= start {
		s.erasures = s.erasures[:len(s.erasures)-1]
	}
	s.end = end
}

// clearTail handles the bytes after the last committed batch: zeros written
// ahead are kept; anything else is a torn, unacknowledged batch, which is
// copied to a side file for the record and then zeroed.
func (s *Files) clearTail() error {
	n := s.alloc - s.end
	if n <= 0 {
		return nil
	}
	last := int64(-1) // offset of the last non-zero byte
	buf := make([]byte, 1<<20)
	for off := s.end; off < s.alloc; off += int64(len(buf)) {
		k, err := s.f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("couldn't read the log's tail: %w", err)
		}
		for i := k - 1; i >= 0; i-- {
			if buf[i] != 0 {
				last = off + int64(i)
				break
			}
		}
	}
	if last < 0 {
		return nil
	}
	if err := s.setAside(last + 1 - s.end); err != nil {
		return err
	}
	s.alloc = s.end
	return nil
}

// setAside copies the n bytes after s.end to a side file and truncates.
func (s *Files) setAside(n int64) error {
	name := fmt.Sprintf("%s.torn-%s", s.path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	out, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("couldn't save torn tail: %w", err)
	}
	if _, err := io.Copy(out, io.NewSectionReader(s.f, s.end, n)); err != nil {
		out.Close()
		return fmt.Errorf("couldn't save torn tail: %w", err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("couldn't save torn tail: %w", err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := s.f.Truncate(s.end); err != nil {
		return fmt.Errorf("couldn't truncate torn tail: %w", err)
	}
	if err := fdatasync(s.f); err != nil {
		return err
	}
	s.logger.Warn("moved unacknowledged torn tail of the evidence log aside", "bytes", n, "file", name)
	return nil
}

// erasurePrefix is how every canonical erasure entry header begins.
var erasurePrefix = []byte(`{"v":1,"kind":"` + evidence.ErasureKind + `",`)

// Commit implements evidence.Storage: one write and one fdatasync.
func (s *Files) Commit(b *evidence.Batch) error {
	s.mu.RLock()
	start, end, nh := int64(len(s.offsets)), s.end, s.nhashes
	s.mu.RUnlock()
	if b.Start != start {
		return fmt.Errorf("batch starts at %d, log size is %d", b.Start, start)
	}
	if nh+int64(len(b.Hashes)) != tlog.StoredHashCount(start+int64(len(b.Headers))) {
		return fmt.Errorf("batch has %d stored hashes, want %d", len(b.Hashes), tlog.StoredHashCount(start+int64(len(b.Headers)))-nh)
	}
	size := 0
	for i := range b.Headers {
		size += frameHeaderSize + 2 + len(b.Headers[i]) + 1 + len(b.Salts[i]) + len(b.Payloads[i])
	}
	size += frameHeaderSize + 8 + 32*len(b.Hashes) + frameHeaderSize + len(b.Checkpoint)
	buf := make([]byte, 0, size)
	offsets := make([]int64, len(b.Headers))
	var erasures []int64
	for i, h := range b.Headers {
		if len(h) > 0xffff || len(b.Salts[i]) != evidence.SaltSize {
			return fmt.Errorf("entry %d: bad header or salt size", start+int64(i))
		}
		if bytes.HasPrefix(h, erasurePrefix) {
			erasures = append(erasures, start+int64(i))
		}
		offsets[i] = end + int64(len(buf))
		body := 2 + len(h) + 1 + len(b.Salts[i]) + len(b.Payloads[i])
		if body > maxFrame {
			return fmt.Errorf("entry %d: %d bytes is too large", start+int64(i), body)
		}
		buf = append(buf, frameEntry)
		buf = binary.BigEndian.AppendUint32(buf, uint32(body))
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(h)))
		buf = append(buf, h...)
		buf = append(buf, 0)
		buf = append(buf, b.Salts[i]...)
		buf = append(buf, b.Payloads[i]...)
	}
	hashOff := end + int64(len(buf)) + frameHeaderSize + 8
	buf = append(buf, frameHashes)
	buf = binary.BigEndian.AppendUint32(buf, uint32(8+32*len(b.Hashes)))
	buf = binary.BigEndian.AppendUint64(buf, uint64(nh))
	for _, h := range b.Hashes {
		buf = append(buf, h[:]...)
	}
	cpOff := end + int64(len(buf)) + frameHeaderSize
	buf = append(buf, frameCheckpoint)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b.Checkpoint)))
	buf = append(buf, b.Checkpoint...)

	if err := s.writeAhead(end + int64(len(buf))); err != nil {
		return s.rollback(end, err)
	}
	if _, err := s.f.WriteAt(buf, end); err != nil {
		return s.rollback(end, fmt.Errorf("couldn't write batch: %w", err))
	}
	if err := fdatasync(s.f); err != nil {
		return s.rollback(end, fmt.Errorf("couldn't sync batch: %w", err))
	}
	s.mu.Lock()
	s.offsets = append(s.offsets, offsets...)
	s.hashRuns = append(s.hashRuns, hashRun{first: nh, off: hashOff, n: int64(len(b.Hashes))})
	s.nhashes += int64(len(b.Hashes))
	s.cps = append(s.cps, cpRef{size: start + int64(len(b.Headers)), off: cpOff, len: int64(len(b.Checkpoint))})
	s.erasures = append(s.erasures, erasures...)
	s.end = end + int64(len(buf))
	s.mu.Unlock()
	return nil
}

// writeAheadChunk is how much zeroed space the log file gains at a time.
const writeAheadChunk = 16 << 20

// writeAhead makes sure the file holds zeros up to at least need. A batch
// then overwrites allocated blocks, and its fdatasync flushes data only,
// not the file's size and extent map: on ext4 that is about twice as fast.
func (s *Files) writeAhead(need int64) error {
	if need <= s.alloc {
		return nil
	}
	size := (need/writeAheadChunk + 1) * writeAheadChunk
	zeros := make([]byte, 1<<20)
	for off := s.alloc; off < size; off += int64(len(zeros)) {
		if _, err := s.f.WriteAt(zeros, off); err != nil {
			return fmt.Errorf("couldn't extend the log file: %w", err)
		}
	}
	if err := fdatasync(s.f); err != nil {
		return err
	}
	s.alloc = size
	return nil
}

// rollback truncates a failed batch away. If even that fails, the file
// may hold part of the batch: the error wraps evidence.ErrBroken, and the
// next open sets the partial batch aside.
func (s *Files) rollback(end int64, err error) error {
	if terr := s.f.Truncate(end); terr != nil {
		return fmt.Errorf("%w: %v (and truncating failed: %v)", evidence.ErrBroken, err, terr)
	}
	s.alloc = end
	return err
}

// State implements evidence.Storage.
func (s *Files) State() (evidence.State, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := evidence.State{Size: int64(len(s.offsets)), Erasures: append([]int64(nil), s.erasures...)}
	if len(s.cps) > 0 {
		c := s.cps[len(s.cps)-1]
		st.Checkpoint = make([]byte, c.len)
		if _, err := s.f.ReadAt(st.Checkpoint, c.off); err != nil {
			return st, fmt.Errorf("couldn't read checkpoint: %w", err)
		}
	}
	return st, nil
}

// ReadHashes implements tlog.HashReader.
func (s *Files) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	s.mu.RLock()
	runs, nh := s.hashRuns, s.nhashes
	s.mu.RUnlock()
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= nh {
			return nil, fmt.Errorf("stored hash %d: %w", x, evidence.ErrNotFound)
		}
		k := sort.Search(len(runs), func(k int) bool { return runs[k].first > x }) - 1
		r := runs[k]
		if _, err := s.f.ReadAt(out[i][:], r.off+32*(x-r.first)); err != nil {
			return nil, fmt.Errorf("couldn't read stored hash %d: %w", x, err)
		}
	}
	return out, nil
}

// ReadEntry implements evidence.Storage.
func (s *Files) ReadEntry(i int64) (evidence.Entry, error) {
	s.mu.RLock()
	if i < 0 || i >= int64(len(s.offsets)) {
		s.mu.RUnlock()
		return evidence.Entry{}, fmt.Errorf("entry %d: %w", i, evidence.ErrNotFound)
	}
	off := s.offsets[i]
	s.mu.RUnlock()
	var hdr [frameHeaderSize]byte
	if _, err := s.f.ReadAt(hdr[:], off); err != nil {
		return evidence.Entry{}, fmt.Errorf("couldn't read entry %d: %w", i, err)
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
	if _, err := s.f.ReadAt(body, off+frameHeaderSize); err != nil {
		return evidence.Entry{}, fmt.Errorf("couldn't read entry %d: %w", i, err)
	}
	fr, err := parseEntryBody(body)
	if err != nil {
		return evidence.Entry{}, fmt.Errorf("entry %d at offset %d: %w", i, off, err)
	}
	e := fr.entry()
	e.Index = i
	return e, nil
}

// Checkpoint implements evidence.Storage.
func (s *Files) Checkpoint(n int64) ([]byte, error) {
	s.mu.RLock()
	cps := s.cps
	s.mu.RUnlock()
	k := sort.Search(len(cps), func(k int) bool { return cps[k].size >= n })
	if k == len(cps) || cps[k].size != n {
		return nil, fmt.Errorf("checkpoint of size %d: %w", n, evidence.ErrNotFound)
	}
	b := make([]byte, cps[k].len)
	if _, err := s.f.ReadAt(b, cps[k].off); err != nil {
		return nil, fmt.Errorf("couldn't read checkpoint of size %d: %w", n, err)
	}
	return b, nil
}

// CheckpointSizes implements evidence.Storage.
func (s *Files) CheckpointSizes() []int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]int64, len(s.cps))
	for i, c := range s.cps {
		out[i] = c.size
	}
	return out
}

// Erase implements evidence.Storage: it zeroes the salt and payload,
// syncs, then sets the erased flag and syncs, so that a set flag always
// means the bytes are gone.
func (s *Files) Erase(i int64) error {
	s.mu.RLock()
	if i < 0 || i >= int64(len(s.offsets)) {
		s.mu.RUnlock()
		return fmt.Errorf("entry %d: %w", i, evidence.ErrNotFound)
	}
	off := s.offsets[i]
	s.mu.RUnlock()
	var hdr [frameHeaderSize + 2]byte
	if _, err := s.f.ReadAt(hdr[:], off); err != nil {
		return fmt.Errorf("couldn't read entry %d: %w", i, err)
	}
	bodyLen := int64(binary.BigEndian.Uint32(hdr[1:]))
	hlen := int64(binary.BigEndian.Uint16(hdr[frameHeaderSize:]))
	flagOff := off + frameHeaderSize + 2 + hlen
	zeros := make([]byte, bodyLen-2-hlen-1)
	if _, err := s.f.WriteAt(zeros, flagOff+1); err != nil {
		return fmt.Errorf("couldn't erase entry %d: %w", i, err)
	}
	if err := fdatasync(s.f); err != nil {
		return fmt.Errorf("couldn't erase entry %d: %w", i, err)
	}
	if _, err := s.f.WriteAt([]byte{flagErased}, flagOff); err != nil {
		return fmt.Errorf("couldn't mark entry %d erased: %w", i, err)
	}
	if err := fdatasync(s.f); err != nil {
		return fmt.Errorf("couldn't mark entry %d erased: %w", i, err)
	}
	return nil
}

// Frame is one decoded frame of a log file.
type Frame struct {
	Type   byte
	Offset int64
	Body   []byte
	// Entry frames:
	Header  []byte
	Flags   byte
	Salt    []byte
	Payload []byte
	// Hashes frames:
	FirstHash int64
	Hashes    []tlog.Hash
}

func (fr Frame) entry() evidence.Entry {
	e := evidence.Entry{Header: fr.Header, Erased: fr.Flags&flagErased != 0}
	if !e.Erased {
		e.Salt, e.Payload = fr.Salt, fr.Payload
	}
	return e
}

// TornError reports bytes at the end of a log file that do not form a
// complete frame.
type TornError struct {
	Offset int64
	Reason string
}

func (e *TornError) Error() string {
	return fmt.Sprintf("incomplete frame at offset %d: %s", e.Offset, e.Reason)
}

// FrameError is a malformed frame.
type FrameError struct {
	Offset int64
	Err    error
}

func (e *FrameError) Error() string { return fmt.Sprintf("frame at offset %d: %v", e.Offset, e.Err) }
func (e *FrameError) Unwrap() error { return e.Err }

// tornAfter reports whether a malformed frame at offset off, after the
// last committed batch, is a torn write rather than damage inside the
// committed log: it is torn unless a checkpoint of this log (recognised by
// its origin line, taken from lastCheckpoint) follows it.
func tornAfter(r io.ReaderAt, off, size int64, lastCheckpoint []byte) (bool, error) {
	origin, _, ok := bytes.Cut(lastCheckpoint, []byte("\n"))
	if !ok {
		return true, nil // no batch was ever committed
	}
	tail := make([]byte, size-off)
	if _, err := r.ReadAt(tail, off); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return !bytes.Contains(tail, append(append([]byte{}, origin...), '\n')), nil
}

// ScanFrames decodes the frames of a log file in order and calls fn for
// each. It returns a *TornError if the stream ends inside a frame, and a
// *FrameError for a malformed frame. Each frame's bytes are freshly
// allocated, so fn may keep them.
func ScanFrames(r *bufio.Reader, fn func(Frame) error) error {
	var off int64
	for {
		var hdr [frameHeaderSize]byte
		n, err := io.ReadFull(r, hdr[:])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &TornError{Offset: off, Reason: fmt.Sprintf("%d of %d header bytes", n, frameHeaderSize)}
		}
		l := binary.BigEndian.Uint32(hdr[1:])
		typ := hdr[0]
		if typ != frameEntry && typ != frameHashes && typ != frameCheckpoint {
			if typ == 0 && l == 0 {
				// Zeros written ahead end the log, if nothing follows.
				if rest, err := io.ReadAll(r); err == nil && !bytes.ContainsFunc(rest, func(r rune) bool { return r != 0 }) {
					return nil
				}
				return &TornError{Offset: off, Reason: "zero bytes followed by data"}
			}
			return &FrameError{Offset: off, Err: fmt.Errorf("unknown frame type %#x", typ)}
		}
		if l > maxFrame {
			return &FrameError{Offset: off, Err: fmt.Errorf("frame claims %d bytes", l)}
		}
		body := make([]byte, l)
		if n, err := io.ReadFull(r, body); err != nil {
			return &TornError{Offset: off, Reason: fmt.Sprintf("%d of %d body bytes", n, l)}
		}
		fr := Frame{Type: typ, Offset: off, Body: body}
		switch typ {
		case frameEntry:
			e, err := parseEntryBody(body)
			if err != nil {
				return &FrameError{Offset: off, Err: err}
			}
			e.Type, e.Offset, e.Body = typ, off, body
			fr = e
		case frameHashes:
			if len(body) < 8 || (len(body)-8)%32 != 0 {
				return &FrameError{Offset: off, Err: fmt.Errorf("hashes frame has %d bytes", len(body))}
			}
			first := binary.BigEndian.Uint64(body)
			if first > math.MaxInt64/2 {
				return &FrameError{Offset: off, Err: fmt.Errorf("hashes frame starts at stored hash %d", first)}
			}
			fr.FirstHash = int64(first)
			fr.Hashes = make([]tlog.Hash, (len(body)-8)/32)
			for i := range fr.Hashes {
				copy(fr.Hashes[i][:], body[8+32*i:])
			}
		}
		if err := fn(fr); err != nil {
			return err
		}
		off += frameHeaderSize + int64(l)
	}
}

func parseEntryBody(body []byte) (Frame, error) {
	if len(body) < 2 {
		return Frame{}, errors.New("entry frame too short")
	}
	hl := int(binary.BigEndian.Uint16(body))
	if len(body) < 2+hl+1+evidence.SaltSize {
		return Frame{}, errors.New("entry frame too short for its header, flags and salt")
	}
	fr := Frame{Type: frameEntry, Header: body[2 : 2+hl], Flags: body[2+hl]}
	if fr.Flags&^flagErased != 0 {
		return Frame{}, fmt.Errorf("entry frame has unknown flags %#x", fr.Flags)
	}
	fr.Salt = body[2+hl+1 : 2+hl+1+evidence.SaltSize]
	fr.Payload = body[2+hl+1+evidence.SaltSize:]
	return fr, nil
}

func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
			}
			return nil
		}
	}
}

package sensor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vallum/vallum/internal/atomicfile"
)

// Quarantine keeps bytes captured from attackers (uploads, bodies) on disk
// under their SHA-256, so that an event carries only a PayloadRef and the
// evidence log commits to the hash.
//
// Every file is written to a temporary name, synced and renamed into place,
// so a name in the quarantine always holds exactly the bytes it is named
// after. Files have mode 0600 (never executable) and directories 0700.
// Identical captures share one file. Each capture is cut at MaxFile bytes
// and the whole quarantine at MaxTotal bytes; a cut capture is kept, with
// PayloadRef.Truncated set, hashed over the bytes kept.
//
// Captures stream to disk: they take no memory beyond one small write
// buffer, whatever their size. A Quarantine is safe for concurrent use.
type Quarantine struct {
	dir      string
	maxFile  int64
	maxTotal int64

	mu   sync.Mutex // guards used
	used int64      // bytes on disk in the quarantine and its pending captures
}

// QuarantineLimits bound a quarantine. Zero fields take the defaults.
type QuarantineLimits struct {
	// MaxFile is the most bytes kept of one capture (default 16 MiB).
	MaxFile int64 `yaml:"max_file"`
	// MaxTotal is the most bytes the quarantine holds on disk, pending
	// captures included (default 1 GiB).
	MaxTotal int64 `yaml:"max_total"`
}

// Default quarantine limits.
const (
	DefaultQuarantineMaxFile  = 16 << 20
	DefaultQuarantineMaxTotal = 1 << 30
)

// maxPayloadName bounds PayloadRef.Name, which the client chose.
const maxPayloadName = 512

const quarantineTmp = ".tmp"

// OpenQuarantine opens (creating it with mode 0700 if needed) the
// quarantine in dir. Temporary files left by a crash are removed, and the
// bytes already held count against MaxTotal.
func OpenQuarantine(dir string, l QuarantineLimits) (*Quarantine, error) {
	if l.MaxFile < 0 || l.MaxTotal < 0 {
		return nil, fmt.Errorf("quarantine limits must not be negative: %+v", l)
	}
	if l.MaxFile == 0 {
		l.MaxFile = DefaultQuarantineMaxFile
	}
	if l.MaxTotal == 0 {
		l.MaxTotal = DefaultQuarantineMaxTotal
	}
	q := &Quarantine{dir: dir, maxFile: l.MaxFile, maxTotal: l.MaxTotal}
	tmp := filepath.Join(dir, quarantineTmp)
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("couldn't clean quarantine %s: %w", tmp, err)
	}
	for _, d := range []string{dir, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("couldn't create quarantine %s: %w", d, err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, fmt.Errorf("couldn't restrict quarantine %s: %w", d, err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("couldn't read quarantine %s: %w", dir, err)
	}
	for _, e := range ents {
		if !validSHA256(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("couldn't read quarantine %s: %w", dir, err)
		}
		q.used += info.Size()
	}
	return q, nil
}

// Dir returns the quarantine's directory.
func (q *Quarantine) Dir() string { return q.dir }

// Used returns the bytes the quarantine holds, pending captures included.
func (q *Quarantine) Used() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used
}

// Path returns where the bytes of sha256 (lowercase hex) are kept, and
// ErrNotQuarantined if the name is not a SHA-256.
func (q *Quarantine) Path(sha string) (string, error) {
	if !validSHA256(sha) {
		return "", fmt.Errorf("%w: %q is not a SHA-256", ErrNotQuarantined, sha)
	}
	return filepath.Join(q.dir, sha), nil
}

// ErrNotQuarantined is returned for a hash the quarantine does not hold.
var ErrNotQuarantined = errors.New("not in the quarantine")

// Open opens the captured bytes of sha256 for reading. The caller must
// treat them as hostile.
func (q *Quarantine) Open(sha string) (*os.File, error) {
	p, err := q.Path(sha)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotQuarantined, sha)
	}
	return f, err
}

// Put captures b at once, cut at the limits.
func (q *Quarantine) Put(name string, b []byte) (PayloadRef, error) {
	c, err := q.Create(name)
	if err != nil {
		return PayloadRef{}, err
	}
	c.Write(b)
	return c.Commit()
}

// Capture copies r into the quarantine until EOF, keeping at most the
// limits; bytes past a limit are read and discarded so the peer can finish.
func (q *Quarantine) Capture(name string, r io.Reader) (PayloadRef, error) {
	c, err := q.Create(name)
	if err != nil {
		return PayloadRef{}, err
	}
	if _, err := io.Copy(c, r); err != nil {
		c.Abort()
		return PayloadRef{}, fmt.Errorf("couldn't capture %q: %w", c.name, err)
	}
	return c.Commit()
}

// ErrQuarantineFull is returned by Link when the file would not fit.
var ErrQuarantineFull = errors.New("quarantine full")

// Link adds the finished file at path to the quarantine under its
// SHA-256, by a hard link (a copy when linking fails) so that it takes no
// more room; the file must not change afterwards. A file larger than
// MaxFile, or one that does not fit under MaxTotal, is not added
// (ErrQuarantineFull); the reference is returned either way.
func (q *Quarantine) Link(name, path string) (PayloadRef, error) {
	f, err := os.Open(path)
	if err != nil {
		return PayloadRef{}, fmt.Errorf("couldn't open %s for the quarantine: %w", path, err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	if err != nil {
		return PayloadRef{}, fmt.Errorf("couldn't read %s for the quarantine: %w", path, err)
	}
	ref := PayloadRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Name: payloadName(name)}
	final := filepath.Join(q.dir, ref.SHA256)
	q.mu.Lock()
	if _, err := os.Lstat(final); err == nil {
		q.mu.Unlock()
		return ref, nil
	}
	if n > q.maxFile || q.used+n > q.maxTotal {
		q.mu.Unlock()
		return ref, ErrQuarantineFull
	}
	if err := os.Link(path, final); err == nil {
		q.used += n
		q.mu.Unlock()
		return ref, atomicfile.SyncDir(q.dir)
	}
	q.mu.Unlock()
	f, err = os.Open(path)
	if err != nil {
		return ref, fmt.Errorf("couldn't open %s for the quarantine: %w", path, err)
	}
	defer f.Close()
	got, err := q.Capture(name, f)
	if err == nil && got.SHA256 != ref.SHA256 {
		err = fmt.Errorf("%s changed while it was quarantined", path)
	}
	return got, err
}

// Create starts a capture of something the client calls name. Write to
// it as the bytes arrive, then Commit (or Abort).
func (q *Quarantine) Create(name string) (*Capture, error) {
	f, err := os.CreateTemp(filepath.Join(q.dir, quarantineTmp), "capture-")
	if err != nil {
		return nil, fmt.Errorf("couldn't create a quarantine file: %w", err)
	}
	// CreateTemp already uses 0600; say so whatever the umask did.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("couldn't restrict a quarantine file: %w", err)
	}
	return &Capture{q: q, f: f, h: sha256.New(), name: payloadName(name)}, nil
}

// Capture is one capture in progress. It is used by one goroutine.
type Capture struct {
	q         *Quarantine
	f         *os.File
	h         hash.Hash
	name      string
	kept      int64 // bytes written to f and reserved from q.used
	received  int64 // bytes offered by Write
	truncated bool
	err       error // first write error; Commit reports it
	done      bool
}

// Write keeps p up to the limits and discards the rest. It never fails
// the caller on a limit: it returns len(p), so a protocol handler can let
// the client finish its upload. A disk error is kept and reported by
// Commit.
func (c *Capture) Write(p []byte) (int, error) {
	n := len(p)
	c.received += int64(n)
	if c.done || c.err != nil || c.truncated {
		// Once cut, a capture stays cut: the bytes kept are a prefix.
		return n, nil
	}
	keep := int64(len(p))
	if room := c.q.maxFile - c.kept; keep > room {
		keep = room
	}
	keep = c.q.reserve(keep)
	if keep < int64(len(p)) {
		c.truncated = true
	}
	if keep == 0 {
		return n, nil
	}
	if _, err := c.f.Write(p[:keep]); err != nil {
		c.err = err
		c.q.release(keep)
		return n, nil
	}
	c.h.Write(p[:keep])
	c.kept += keep
	return n, nil
}

// Received returns every byte offered to Write, kept or not.
func (c *Capture) Received() int64 { return c.received }

// Truncated tells whether bytes were discarded at a limit so far.
func (c *Capture) Truncated() bool { return c.truncated }

// Commit syncs the capture and moves it under its SHA-256. If the
// quarantine already holds those bytes, the copy is dropped. The reference
// names the bytes kept.
func (c *Capture) Commit() (PayloadRef, error) {
	if c.done {
		return PayloadRef{}, errors.New("quarantine capture already finished")
	}
	c.done = true
	tmp := c.f.Name()
	fail := func(err error) (PayloadRef, error) {
		c.f.Close()
		os.Remove(tmp)
		c.q.release(c.kept)
		return PayloadRef{}, err
	}
	if c.err != nil {
		return fail(fmt.Errorf("couldn't write quarantine file %s: %w", tmp, c.err))
	}
	if err := c.f.Sync(); err != nil {
		return fail(fmt.Errorf("couldn't sync quarantine file %s: %w", tmp, err))
	}
	if err := c.f.Close(); err != nil {
		return fail(fmt.Errorf("couldn't close quarantine file %s: %w", tmp, err))
	}
	ref := PayloadRef{
		SHA256:    hex.EncodeToString(c.h.Sum(nil)),
		Size:      c.kept,
		Name:      c.name,
		Truncated: c.truncated,
	}
	if err := c.q.place(tmp, ref.SHA256, c.kept); err != nil {
		return PayloadRef{}, err
	}
	if err := atomicfile.SyncDir(c.q.dir); err != nil {
		return PayloadRef{}, err
	}
	return ref, nil
}

// place renames tmp to its hash, or drops it when the quarantine already
// holds those bytes (the name says they are identical).
func (q *Quarantine) place(tmp, sha string, size int64) error {
	final := filepath.Join(q.dir, sha)
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, err := os.Lstat(final); err == nil {
		os.Remove(tmp)
		q.used -= size
		return nil
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		q.used -= size
		return fmt.Errorf("couldn't move a capture into the quarantine: %w", err)
	}
	return nil
}

// Abort drops the capture. It is safe after Commit (and then does
// nothing).
func (c *Capture) Abort() {
	if c.done {
		return
	}
	c.done = true
	c.f.Close()
	os.Remove(c.f.Name())
	c.q.release(c.kept)
}

// reserve takes up to n bytes of the total cap and returns how many.
func (q *Quarantine) reserve(n int64) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if room := q.maxTotal - q.used; n > room {
		n = max(room, 0)
	}
	q.used += n
	return n
}

func (q *Quarantine) release(n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.used -= n
}

// payloadName makes a client-chosen name safe to carry in an event:
// valid UTF-8, no C0 or C1 control characters (a C1 such as U+009B, CSI,
// drives some terminals as ESC [ does), bounded.
func payloadName(s string) string {
	if len(s) > maxPayloadName {
		s = s[:maxPayloadName]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || 0x7f <= r && r <= 0x9f {
			return '\uFFFD'
		}
		return r
	}, s)
}

func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

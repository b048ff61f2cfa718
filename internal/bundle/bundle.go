// Package bundle builds and verifies court bundles: everything a court
// expert needs to check an incident's record offline, without Vallum's
// server and without trusting the organisation that produced it.
//
// A bundle is a directory or a .tar.gz holding, for one incident, the
// evidence-log entries (exact header bytes, payloads and salts, erased ones
// marked with the erasure entry that erased them), a C2SP tlog-proof for
// every entry, the signed checkpoints with consistency proofs between
// them, the RFC 3161 tokens that anchor checkpoints with the authorities'
// certificates, the log's verifier key, the rule packs that made the
// decisions, a report for lawyers (HTML, and PDF when Chromium is
// installed), VERIFY.md and a manifest with the SHA-256 of every file.
// docs/bundle.md lists the layout.
//
// Export builds one (the console's "export bundle" button calls it);
// Verify checks one and returns a readable account naming exactly what
// failed. Both are pure functions of their inputs apart from the clock
// and the optional Chromium subprocess.
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Format is the bundle format this package writes and reads.
const Format = "vallum-bundle/1"

// Names of the fixed files of a bundle.
const (
	ManifestFile = "manifest.json"
	SumsFile     = "SHA256SUMS"
	VerifyFile   = "VERIFY.md"
	VKeyFile     = "log/vkey"
	IndexFile    = "entries/index.json"
	PacksFile    = "packs/index.json"
	ItemsFile    = "evidence/items.json"
)

// Limits on a bundle read from untrusted bytes, which is held in memory:
// MaxFileSize for one file (an evidence file bigger than this is not put
// in a bundle), MaxTotalSize for all of them, each file counting
// fileOverhead bytes more for its name and map entry, and MaxFiles files.
const (
	MaxFiles     = 1 << 20
	MaxFileSize  = 64 << 20
	MaxTotalSize = 512 << 20
	fileOverhead = 512
)

// readLimits are the limits the readers apply; tests lower them.
var readLimits = struct{ file, total int64 }{MaxFileSize, MaxTotalSize}

// ErrTooLarge is wrapped (with ErrMalformed) when a bundle read from
// untrusted bytes exceeds MaxFileSize, MaxTotalSize or MaxFiles.
var ErrTooLarge = errors.New("bundle too large")

// admit checks that a file of size bytes fits the limits, given total
// bytes and n files read so far, and returns the new total.
func admit(name string, size, total int64, n int) (int64, error) {
	if size < 0 || size > readLimits.file {
		return total, fmt.Errorf("%w: %w: %s is %d bytes, more than the limit of %d bytes for one file", ErrMalformed, ErrTooLarge, name, size, readLimits.file)
	}
	if n >= MaxFiles {
		return total, fmt.Errorf("%w: %w: %s: more than %d files", ErrMalformed, ErrTooLarge, name, MaxFiles)
	}
	total += size + fileOverhead
	if total > readLimits.total {
		return total, fmt.Errorf("%w: %w: %s (%d bytes) brings the bundle past the limit of %d bytes in all", ErrMalformed, ErrTooLarge, name, size, readLimits.total)
	}
	return total, nil
}

// Files is a bundle's content: slash-separated relative path → bytes.
type Files map[string][]byte

// Paths returns the paths in sorted order.
func (f Files) Paths() []string {
	ps := make([]string, 0, len(f))
	for p := range f {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Manifest is manifest.json: what the bundle is and the SHA-256 of every
// other file (all but manifest.json and SHA256SUMS, which lists
// manifest.json too).
type Manifest struct {
	Format     string `json:"format"`
	Vallum     string `json:"vallum_version"`
	Origin     string `json:"origin"`
	Incident   string `json:"incident"`
	Created    string `json:"created"`
	TreeSize   int64  `json:"tree_size"`
	Checkpoint string `json:"checkpoint"`
	// Files lists every file of the bundle except manifest.json and
	// SHA256SUMS, sorted by path.
	Files []FileHash `json:"files"`
}

// FileHash is one file of the manifest.
type FileHash struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ErrMalformed is wrapped by errors reading a bundle's structure.
var ErrMalformed = errors.New("malformed bundle")

// ParseManifest decodes manifest.json strictly.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("%w: %s: %v", ErrMalformed, ManifestFile, err)
	}
	if dec.More() {
		return m, fmt.Errorf("%w: %s: trailing data", ErrMalformed, ManifestFile)
	}
	if m.Format != Format {
		return m, fmt.Errorf("%w: %s: format %q, this verifier reads %q", ErrMalformed, ManifestFile, m.Format, Format)
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return m, fmt.Errorf("%w: %s: %v", ErrMalformed, ManifestFile, err)
		}
		if seen[f.Path] {
			return m, fmt.Errorf("%w: %s lists %s twice", ErrMalformed, ManifestFile, f.Path)
		}
		seen[f.Path] = true
		if len(f.SHA256) != 64 {
			return m, fmt.Errorf("%w: %s: %s has no SHA-256", ErrMalformed, ManifestFile, f.Path)
		}
	}
	return m, nil
}

// sealed adds manifest.json and SHA256SUMS to files.
func seal(files Files, m Manifest) {
	delete(files, ManifestFile)
	delete(files, SumsFile)
	m.Files = nil
	for _, p := range files.Paths() {
		m.Files = append(m.Files, FileHash{Path: p, SHA256: sha256Hex(files[p]), Size: int64(len(files[p]))})
	}
	mb, _ := json.MarshalIndent(m, "", "  ")
	files[ManifestFile] = append(mb, '\n')
	var sums bytes.Buffer
	for _, p := range files.Paths() {
		fmt.Fprintf(&sums, "%s  %s\n", sha256Hex(files[p]), p)
	}
	files[SumsFile] = sums.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkPath accepts clean, relative, slash-separated paths of printable
// ASCII without "..", so that a hostile bundle can't name files outside
// its directory when written out.
func checkPath(p string) error {
	if p == "" || len(p) > 512 || path.Clean(p) != p || path.IsAbs(p) || strings.HasPrefix(p, "../") || p == ".." || p == "." {
		return fmt.Errorf("path %q is not a clean relative path", p)
	}
	for _, c := range p {
		if c <= ' ' || c > '~' || c == '\\' {
			return fmt.Errorf("path %q holds a character outside printable ASCII", p)
		}
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." || el == "." || el == "" {
			return fmt.Errorf("path %q has a %q element", p, el)
		}
	}
	return nil
}

// WriteTarGz writes files as a gzip-compressed tar, in path order, with
// fixed modes and modification time mtime, so that the same bundle gives
// the same bytes.
func WriteTarGz(w io.Writer, files Files, mtime time.Time) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, p := range files.Paths() {
		b := files[p]
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(b)), ModTime: mtime.UTC(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("couldn't write bundle: %w", err)
		}
		if _, err := tw.Write(b); err != nil {
			return fmt.Errorf("couldn't write bundle: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("couldn't write bundle: %w", err)
	}
	return zw.Close()
}

// ReadTarGz reads a bundle from a gzip-compressed tar. Only regular files
// (and directories, ignored) are accepted, with clean relative paths,
// within MaxFiles, MaxFileSize and MaxTotalSize; a bundle past a limit is
// refused (ErrTooLarge) as soon as a tar header shows it, before the
// file's content is read.
func ReadTarGz(r io.Reader) (Files, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: not gzip: %v", ErrMalformed, err)
	}
	tr := tar.NewReader(zr)
	files := Files{}
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: tar: %v", ErrMalformed, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("%w: %s is not a regular file (tar type %q)", ErrMalformed, h.Name, h.Typeflag)
		}
		if err := checkPath(name); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("%w: %s appears twice", ErrMalformed, name)
		}
		// The limits are checked on the header's size before anything
		// is read, and the file is read into a slice of exactly that
		// size: a claim larger than what follows costs one allocation
		// within the limit for one file, and no growth doubles it.
		if total, err = admit(name, h.Size, total, len(files)); err != nil {
			return nil, err
		}
		b := make([]byte, h.Size)
		if n, err := io.ReadFull(tr, b); err != nil {
			return nil, fmt.Errorf("%w: %s: truncated (%d of %d bytes): %v", ErrMalformed, name, n, h.Size, err)
		}
		files[name] = b
	}
	return files, nil
}

// WriteDir writes files under dir, which must not exist or be empty.
func WriteDir(dir string, files Files) error {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%s is not empty: give a new directory or a FILE.tar.gz", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range files.Paths() {
		if err := checkPath(p); err != nil {
			return err
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return fmt.Errorf("couldn't write %s: %w", full, err)
		}
	}
	return nil
}

// ReadDir reads a bundle directory: regular files only (a symbolic link
// or other special file is an error), within the limits of ReadTarGz.
func ReadDir(dir string) (Files, error) {
	files := Files{}
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			return fmt.Errorf("%w: %s is not a regular file", ErrMalformed, rel)
		}
		if err := checkPath(rel); err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if total, err = admit(rel, fi.Size(), total, len(files)); err != nil {
			return err
		}
		b, err := readFileSize(p, fi.Size())
		if err != nil {
			return err
		}
		files[rel] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// readFileSize reads a file of size bytes (as listed) into a slice of
// exactly that size; a file that changed size since is an error.
func readFileSize(p string, size int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", p, err)
	}
	if n, _ := f.Read(make([]byte, 1)); n > 0 {
		return nil, fmt.Errorf("%s grew while the bundle was read", p)
	}
	return b, nil
}

// Read reads a bundle from a directory or a .tar.gz file.
func Read(p string) (Files, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("couldn't read bundle: %w", err)
	}
	if fi.IsDir() {
		return ReadDir(p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("couldn't read bundle: %w", err)
	}
	defer f.Close()
	return ReadTarGz(f)
}

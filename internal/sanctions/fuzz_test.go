package sanctions

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzMax is the size limit under fuzzing: above the largest seed (the
// 5.5 KB advanced file) so seeds parse, small enough that grown inputs hit
// it.
const fuzzMax = 16 << 10

func seed(f *testing.F, pattern string) {
	paths, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seeds for %s: %v", pattern, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkImport: an importer returns a list or a *ParseError, never both,
// never a list from more than max bytes, and every imported entry has an id
// and a name.
func checkImport(t *testing.T, l *List, err error, size int) {
	t.Helper()
	if err != nil {
		var pe *ParseError
		if l != nil || !errors.As(err, &pe) {
			t.Fatalf("got list %v and %T %v, want no list and a *ParseError", l != nil, err, err)
		}
		if size > fuzzMax && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrFormat) {
			t.Fatalf("got %v for %d bytes", err, size)
		}
		return
	}
	if size > fuzzMax {
		t.Fatalf("imported %d bytes over a limit of %d", size, fuzzMax)
	}
	var n int64
	for _, f := range l.Provenance.Files {
		n += f.Bytes
	}
	if l.Provenance.Entries != len(l.Entries) || n > 2*fuzzMax {
		t.Fatalf("got provenance %+v for %d entries", l.Provenance, len(l.Entries))
	}
	for _, e := range l.Entries {
		if e.ID == "" || e.Name == "" {
			t.Fatalf("got entry %+v without id or name", e)
		}
	}
	NewScreener(l) // indexing never panics either
}

func FuzzOFACCSV(f *testing.F) {
	seed(f, "*.csv")
	alt, err := os.ReadFile(filepath.Join("testdata", "alt.csv"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The input is read both as sdn.csv (with the real alt.csv) and as
		// alt.csv (with itself as sdn.csv).
		l, err := ParseOFACCSV(bytes.NewReader(b), bytes.NewReader(alt), fuzzMax)
		checkImport(t, l, err, len(b))
		l, err = ParseOFACCSV(bytes.NewReader(b), bytes.NewReader(b), fuzzMax)
		checkImport(t, l, err, len(b))
	})
}

func FuzzOFACXML(f *testing.F) {
	seed(f, "SDN*.XML")
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseOFACXML(bytes.NewReader(b), fuzzMax)
		checkImport(t, l, err, len(b))
	})
}

func FuzzOFACAdvanced(f *testing.F) {
	seed(f, "SDN_ADVANCED*.XML")
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseOFACAdvanced(bytes.NewReader(b), fuzzMax)
		checkImport(t, l, err, len(b))
	})
}

func FuzzEUXML(f *testing.F) {
	seed(f, "eu*.xml")
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseEUXML(bytes.NewReader(b), fuzzMax)
		checkImport(t, l, err, len(b))
	})
}

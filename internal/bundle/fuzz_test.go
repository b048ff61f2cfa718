package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
)

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":"vallum-bundle/1","files":[{"path":"a","sha256":"` + sha256Hex(nil) + `","size":0}]}`))
	f.Add([]byte(`{"format":"vallum-bundle/1","files":[{"path":"../a","sha256":"x"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		for _, fh := range m.Files {
			if checkPath(fh.Path) != nil {
				t.Fatalf("accepted path %q", fh.Path)
			}
		}
	})
}

// FuzzReadTarGz feeds arbitrary bytes to the bundle reader and, when they
// parse, to the verifier: neither may panic, and a hostile path is never
// accepted.
func FuzzReadTarGz(f *testing.F) {
	var b bytes.Buffer
	WriteTarGz(&b, Files{"manifest.json": []byte(`{"format":"vallum-bundle/1"}`), "entries/index.json": []byte(`[{"index":0}]`), "log/checkpoints/1": []byte("x\n1\nAAAA\n\n")}, time.Time{})
	f.Add(b.Bytes())
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := ReadTarGz(bytes.NewReader(data))
		if err != nil {
			return
		}
		for p := range files {
			if checkPath(p) != nil {
				t.Fatalf("accepted path %q", p)
			}
		}
		Verify(files, VerifyOptions{})
	})
}

// FuzzVerifyFiles mutates one file of a real bundle at a time.
func FuzzVerifyFiles(f *testing.F) {
	e := newEnv(f, false)
	id, _ := e.scenario(f)
	good, _, err := Build(context.Background(), e.deps(), id, Options{Langs: []string{"en"}})
	if err != nil {
		f.Fatal(err)
	}
	paths := good.Paths()
	f.Add(0, []byte("x"))
	f.Add(3, []byte(""))
	f.Fuzz(func(t *testing.T, which int, content []byte) {
		if which < 0 {
			which = -which
		}
		files := clone(good)
		p := paths[which%len(paths)]
		if bytes.Equal(files[p], content) {
			return
		}
		files[p] = content
		if r := Verify(files, VerifyOptions{VKey: e.vkey}); r.OK() {
			t.Fatalf("changing %s went unnoticed", p)
		}
	})
}

// BenchmarkExportVerify exports and verifies an incident of 10,000 entries.
func BenchmarkExportVerify(b *testing.B) {
	e := newEnv(b, false)
	ctx := context.Background()
	inc, err := e.desk.Create(ctx, paola, incident.NewIncident{Title: "bench", Severity: incident.Low})
	if err != nil {
		b.Fatal(err)
	}
	const n = 10000
	errs := make(chan error, 64)
	for w := 0; w < 64; w++ {
		go func(w int) {
			for i := w; i < n-1; i += 64 {
				if _, err := e.log.Append(ctx, evidence.Record{Kind: "sensor.event", Actor: "sensor/ssh1", Incident: inc.ID, Payload: fmt.Appendf(nil, `{"n":%d,"src":"203.0.113.9"}`, i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < 64; w++ {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	e.index(b)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		files, _, err := Build(ctx, e.deps(), inc.ID, Options{Langs: []string{"en"}})
		if err != nil {
			b.Fatal(err)
		}
		var tgz bytes.Buffer
		if err := WriteTarGz(&tgz, files, time.Time{}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		back, err := ReadTarGz(bytes.NewReader(tgz.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		r := Verify(back, VerifyOptions{VKey: e.vkey})
		if !r.OK() || len(r.Entries) != n {
			b.Fatalf("%d entries, ok %v", len(r.Entries), r.OK())
		}
		b.ReportMetric(float64(t1.Sub(t0).Milliseconds()), "export-ms")
		b.ReportMetric(float64(time.Since(t1).Milliseconds()), "verify-ms")
		b.ReportMetric(float64(tgz.Len())/(1<<20), "tar.gz-MiB")
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestReadBomb: a small .tar.gz that inflates past the limits is refused
// with an error naming the file and the limit, as soon as the tar header
// shows it, before the rest of the stream is read. The limits are lowered
// so that the test allocates little.
func TestReadBomb(t *testing.T) {
	saved := readLimits
	t.Cleanup(func() { readLimits = saved })
	readLimits.file, readLimits.total = 1<<20, 3<<20
	zeros := make([]byte, 1<<20)
	noise := make([]byte, 2<<20) // incompressible, after the bomb
	rand.Read(noise)
	bomb := func(files ...struct {
		name string
		data []byte
	}) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		tw := tar.NewWriter(zw)
		for _, f := range files {
			tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg})
			tw.Write(f.data)
		}
		tw.Close()
		zw.Close()
		return b.Bytes()
	}
	type file = struct {
		name string
		data []byte
	}
	for _, tc := range []struct {
		name  string
		tgz   []byte
		want  string
		limit int64
	}{
		{"one file too large", bomb(file{"evidence/files/a", append(zeros, 0)}, file{"noise", noise}),
			"evidence/files/a is 1048577 bytes, more than the limit of 1048576 bytes for one file", 1 << 20},
		{"too much in all", bomb(file{"a", zeros}, file{"b", zeros}, file{"c", zeros}, file{"noise", noise}),
			"c (1048576 bytes) brings the bundle past the limit of 3145728 bytes in all", 3 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &countingReader{r: bytes.NewReader(tc.tgz)}
			_, err := ReadTarGz(in)
			if !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrTooLarge saying %q", err, tc.want)
			}
			// The refusal came at the header: the incompressible file
			// after it was not read.
			if in.n > int64(len(tc.tgz))-int64(len(noise))/2 {
				t.Errorf("read %d of %d compressed bytes before refusing", in.n, len(tc.tgz))
			}
		})
	}
	// A directory: the same limits, from the files' sizes.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "big"), append(zeros, 0), 0o600)
	if _, err := ReadDir(dir); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "big is 1048577 bytes, more than the limit") {
		t.Errorf("directory: err = %v, want ErrTooLarge naming big", err)
	}
}

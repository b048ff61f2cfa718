package bundle

import (
	"bytes"
	"context"
	"fmt"
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

package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vallum/vallum/internal/sanctions"
)

func TestSanctionsCommands(t *testing.T) {
	dir := t.TempDir()
	testdata, err := filepath.Abs(filepath.Join("..", "..", "internal", "sanctions", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	list := func(name string) string { return filepath.Join(testdata, name) }
	s := startServer(t, dir)
	client := []string{"--server", s.url, "--data", s.data}
	admin := func(args ...string) result {
		t.Helper()
		return runBin(t, dir, "", append(args, client...)...)
	}

	r := admin("user", "add", "ana", "--role", "analyst")
	if r.code != 0 {
		t.Fatalf("user add: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	token := strings.TrimSpace(r.stdout)
	analyst := func(args ...string) result {
		t.Helper()
		return runBinEnv(t, []string{"VALLUM_TOKEN=" + token}, dir, "", append(args, "--server", s.url, "--data", t.TempDir())...)
	}

	// Before any import, a screening is refused, never a clear.
	if r := analyst("sanctions", "screen", "--wallet", "1FakeXbtAddr7hYq2mNpQrStUvWxYz12"); r.code != 1 || !strings.Contains(r.stderr, "no sanctions list loaded") {
		t.Errorf("screen with no list: exit %d, stderr %q, want 1 and no list loaded", r.code, r.stderr)
	}

	for _, args := range [][]string{
		{"--format", "ofac-csv", list("sdn.csv"), "--alt", list("alt.csv")},
		{"--format", "eu-xml", list("eu.xml")},
	} {
		r := admin(append([]string{"sanctions", "import"}, args...)...)
		var p sanctions.Provenance
		if err := json.Unmarshal([]byte(r.stdout), &p); err != nil || r.code != 0 || p.Entries == 0 || len(p.SHA256) != 64 {
			t.Fatalf("sanctions import %v: exit %d, %v in %q\nstderr:\n%s", args, r.code, err, r.stdout, r.stderr)
		}
	}
	if r := admin("sanctions", "import", "--format", "ofac-xml", list("SDN_wrong_root.XML")); r.code != 1 || !strings.Contains(r.stderr, "SDN.XML") {
		t.Errorf("import of a malformed file: exit %d, stderr %q, want 1 and the importer's error", r.code, r.stderr)
	}
	if r := admin("sanctions", "import", "--format", "ofac-csv", list("sdn.csv")); r.code != 2 || !strings.Contains(r.stderr, "--alt") {
		t.Errorf("CSV import without --alt: exit %d, stderr %q, want 2 and a hint about --alt", r.code, r.stderr)
	}

	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		result sanctions.Result
	}{
		{"listed wallet", []string{"--wallet", "1FakeXbtAddr7hYq2mNpQrStUvWxYz12", "--chain", "BTC"}, 4, sanctions.Hit},
		{"unlisted wallet", []string{"--wallet", "bc1qnotlisted0000000000000000000000000abc"}, 0, sanctions.Clear},
		{"listed name", []string{"--name", "Krasnov, Ivan Petrovich"}, 4, sanctions.Hit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := analyst(append([]string{"sanctions", "screen"}, tt.args...)...)
			var sc struct {
				sanctions.Screening
				Receipt struct{ Index int64 }
			}
			if err := json.Unmarshal([]byte(r.stdout), &sc); err != nil {
				t.Fatalf("%v in %q\nstderr:\n%s", err, r.stdout, r.stderr)
			}
			if r.code != tt.code || sc.Result != tt.result || sc.By != "ana" || sc.Receipt.Index == 0 {
				t.Errorf("got exit %d, result %s by %q, receipt %+v; want exit %d, %s by ana with a receipt", r.code, sc.Result, sc.By, sc.Receipt, tt.code, tt.result)
			}
		})
	}

	// The lists survive a restart: the server reloads them from its data
	// directory.
	if code := s.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("server exited with %d", code)
	}
	stored, _ := filepath.Glob(filepath.Join(s.data, "sanctions", "*"))
	s = startServer(t, dir)
	client = []string{"--server", s.url, "--data", s.data}
	if n := strings.Count(s.stderr.String(), "loaded sanctions list"); n != 2 {
		t.Errorf("server log says %d lists loaded, want 2 (stored: %v)\n%s", n, stored, s.stderr)
	}
	r = admin("sanctions", "lists")
	var lists struct{ Lists []sanctions.Provenance }
	if err := json.Unmarshal([]byte(r.stdout), &lists); err != nil || len(lists.Lists) != 2 {
		t.Errorf("sanctions lists after restart: exit %d, %v, got %q, want 2 lists", r.code, err, r.stdout)
	}
	if r := analyst("sanctions", "screen", "--wallet", "1FakeXbtAddr7hYq2mNpQrStUvWxYz12"); r.code != 4 {
		t.Errorf("screen after restart: exit %d, want 4\nstderr:\n%s", r.code, r.stderr)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/tsa/tsatest"
)

// checkVerifyBundle runs `vallum verify BUNDLE` on good and tampered bundles
// made by exportBoth, and checks that `vallum verify --data` is unchanged.
// TestExport runs it on its bundles (one server and two exports serve
// both tests).
func checkVerifyBundle(t *testing.T, e exported) {
	// Without --vkey: verified, but the account says where the key came from.
	r := runBin(t, e.dir, "", "verify", e.offline)
	if r.code != 0 || !strings.Contains(r.stdout, "TAKEN FROM THE BUNDLE ITSELF") {
		t.Errorf("verify without --vkey: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// --json, with the time-stamping root pinned.
	caFile := filepath.Join(e.offline, "anchors", "001", "ca.pem")
	pinned := filepath.Join(e.dir, "tsa-root.pem")
	b, _ := os.ReadFile(caFile)
	os.WriteFile(pinned, b, 0o600)
	r = runBin(t, e.dir, "", "verify", "--json", "--vkey", e.vkey, "--tsa-ca", pinned, e.online)
	var js struct {
		OK        bool   `json:"ok"`
		KeyPinned bool   `json:"key_pinned"`
		Incident  string `json:"incident"`
		Anchors   []struct {
			OK bool `json:"ok"`
		} `json:"anchors"`
		NotVerified    []string `json:"not_verified"`
		ManifestSHA256 string   `json:"manifest_sha256"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &js); err != nil || r.code != 0 || !js.OK || !js.KeyPinned || js.Incident != e.incident || len(js.Anchors) != 1 || !js.Anchors[0].OK {
		t.Errorf("verify --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	// The reading aids are named as not verified, in the JSON and the account.
	if !slices.Contains(js.NotVerified, "report/report.en.html") || !slices.Contains(js.NotVerified, "VERIFY.md") {
		t.Errorf("verify --json: not_verified = %v, want the report and VERIFY.md", js.NotVerified)
	}
	r = runBin(t, e.dir, "", "verify", "--vkey", e.vkey, e.offline)
	if !strings.Contains(r.stdout, "NOT VERIFIED: VERIFY.md, evidence/items.json, report/report.it.html") {
		t.Errorf("verify doesn't say the reading aids are not verified:\n%s", r.stdout)
	}
	// The offline bundle, made after the online export was logged, shows
	// that export with the online bundle's manifest SHA-256.
	if js.ManifestSHA256 == "" || !strings.Contains(r.stdout, "with manifest.json SHA-256 "+js.ManifestSHA256) {
		t.Errorf("the later bundle doesn't show the logged export of manifest %q:\n%s", js.ManifestSHA256, r.stdout)
	}
	// A root that is not the authority's: the time-stamp fails.
	stranger := tsatest.Start(t, tsatest.Options{Name: "Stranger TSA"})
	r = runBin(t, e.dir, "", "verify", "--vkey", e.vkey, "--tsa-ca", stranger.CAFile, e.offline)
	if r.code != 1 || !strings.Contains(r.stdout, "anchors/001/token.tsr: time-stamp doesn't verify") {
		t.Errorf("verify with a wrong --tsa-ca: exit %d\n%s", r.code, r.stdout)
	}
	// Another key of the same origin.
	_, other, _ := evidence.GenerateKey(strings.SplitN(strings.TrimSpace(readFile(t, e.vkey)), "+", 2)[0])
	otherFile := filepath.Join(e.dir, "other.vkey")
	os.WriteFile(otherFile, []byte(other+"\n"), 0o644)
	r = runBin(t, e.dir, "", "verify", "--vkey", otherFile, e.offline)
	if r.code != 1 || !strings.Contains(r.stdout, "log/vkey: the bundle's key is not the pinned key") {
		t.Errorf("verify with another key: exit %d\n%s", r.code, r.stdout)
	}
	// Tampering, each caught with the file and the entry.
	note := e.noteIndex
	cases := []struct {
		name string
		mut  func(dir string)
		want string
	}{
		{"payload", func(d string) {
			p := filepath.Join(d, "entries", fmt.Sprint(note), "payload.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), "Anna", "Anne", 1)), 0o644)
		}, fmt.Sprintf("entries/%d/payload.json: SHA-256 is", note)},
		{"missing file", func(d string) { os.Remove(filepath.Join(d, "entries", fmt.Sprint(note), "tlog-proof")) },
			fmt.Sprintf("entries/%d/tlog-proof: missing: the manifest lists it", note)},
		{"extra file", func(d string) { os.WriteFile(filepath.Join(d, "entries", "extra"), []byte("x"), 0o644) },
			"entries/extra: extra file: not in the manifest"},
		{"token", func(d string) {
			p := filepath.Join(d, "anchors", "001", "token.tsr")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}, "anchors/001/token.tsr: SHA-256 is"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "b")
			copyDir(t, e.offline, d)
			tc.mut(d)
			r := runBin(t, e.dir, "", "verify", "--vkey", e.vkey, d)
			if r.code != 1 || !strings.Contains(r.stdout, tc.want) || !strings.Contains(r.stdout, "FAILED") {
				t.Errorf("exit %d, want 1 and %q:\n%s%s", r.code, tc.want, r.stdout, r.stderr)
			}
		})
	}
	// Not a bundle; two bundles.
	if r := runBin(t, e.dir, "", "verify", filepath.Join(e.dir, "nothing")); r.code != 1 || !strings.Contains(r.stderr, "couldn't read bundle") {
		t.Errorf("verify of a missing path: exit %d %s", r.code, r.stderr)
	}
	if r := runBin(t, e.dir, "", "verify", e.online, e.offline); r.code != 2 {
		t.Errorf("verify of two bundles: exit %d %s", r.code, r.stderr)
	}
	// The log verification is unchanged.
	if r := runBin(t, e.dir, "", "verify", "--data", e.data, "--vkey", e.vkey); r.code != 0 || !strings.HasPrefix(r.stdout, "ok:") {
		t.Errorf("verify --data: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

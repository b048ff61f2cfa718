package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/tsa"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func clone(f Files) Files {
	out := Files{}
	for k, v := range f {
		out[k] = bytes.Clone(v)
	}
	return out
}

func index(t testing.TB, f Files) []IndexEntry {
	t.Helper()
	var idx []IndexEntry
	if err := json.Unmarshal(f[IndexFile], &idx); err != nil {
		t.Fatal(err)
	}
	return idx
}

func indexOf(t testing.TB, f Files, kind string) int64 {
	t.Helper()
	for _, e := range index(t, f) {
		if e.Kind == kind {
			return e.Index
		}
	}
	t.Fatalf("no %s entry in the bundle", kind)
	return -1
}

func TestExportAndVerify(t *testing.T) {
	e := newEnv(t, true)
	id, note := e.scenario(t)
	ctx := context.Background()
	files, rep, err := Build(ctx, e.deps(), id, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("export's own verification failed:\n%s", rep)
	}
	got := Verify(files, VerifyOptions{VKey: e.vkey})
	if !got.OK() || !got.KeyPinned {
		t.Fatalf("bundle doesn't verify:\n%s", got)
	}
	t.Logf("\n%s", got)
	// What is in it.
	why := map[string]int{}
	for _, ie := range index(t, files) {
		why[ie.Why]++
		if ie.Incident != id && ie.Why == "incident" {
			t.Errorf("entry %d of incident %q selected as the incident's", ie.Index, ie.Incident)
		}
		if strings.Contains(string(files[entryFile(ie.Index, payloadName)]), "unrelated") {
			t.Errorf("entry %d of the other incident is in the bundle", ie.Index)
		}
	}
	for _, w := range []string{"incident", "linked event", "time-stamp"} {
		if why[w] == 0 {
			t.Errorf("no entry selected as %q: %v", w, why)
		}
	}
	if _, ok := files[entryFile(note, payloadName)]; !ok {
		t.Error("the note's payload is missing")
	}
	for _, p := range []string{VerifyFile, ManifestFile, SumsFile, VKeyFile, PacksFile, ItemsFile, "report/report.it.html", "report/report.en.html", "anchors/001/token.tsr", "anchors/001/ca.pem", "anchors/001/tsa.pem"} {
		if _, ok := files[p]; !ok {
			t.Errorf("%s missing", p)
		}
	}
	if len(got.Anchors) < 2 || len(got.Checkpoints) < 2 {
		t.Errorf("%d anchors, %d checkpoints; want at least 2 each", len(got.Anchors), len(got.Checkpoints))
	}
	if len(got.Packs) != 1 || got.Packs[0].Dir == "" {
		t.Errorf("packs = %+v, want the embedded pack with its files", got.Packs)
	}
	var anchored int
	for _, es := range got.Entries {
		if !es.AnchorTime.IsZero() {
			anchored++
		}
	}
	if anchored == 0 {
		t.Error("no entry is shown as time-stamped")
	}
	for _, s := range []string{"firewall_block", "Garante online", "S-0042", "Bundle Test TSA", "ESSCertIDv2"} {
		if !bytes.Contains(files["report/report.en.html"], []byte(s)) && !strings.Contains(got.String(), s) {
			t.Errorf("neither the report nor the account mentions %q", s)
		}
	}
	if !bytes.Contains(files["report/report.it.html"], []byte("Che cosa il registro non può provare")) {
		t.Error("the Italian report lacks the statement of what the log cannot prove")
	}

	// Round trips: tar.gz and directory, then generic tools on the directory.
	var tgz bytes.Buffer
	if err := WriteTarGz(&tgz, files, time.Time{}); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTarGz(bytes.NewReader(tgz.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if r := Verify(back, VerifyOptions{VKey: e.vkey}); !r.OK() {
		t.Fatalf("tar.gz round trip:\n%s", r)
	}
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := WriteDir(dir, files); err != nil {
		t.Fatal(err)
	}
	fromDir, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r := Verify(fromDir, VerifyOptions{VKey: e.vkey}); !r.OK() {
		t.Fatalf("directory round trip:\n%s", r)
	}
	cmd := exec.Command("sha256sum", "--quiet", "-c", SumsFile)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
	for _, a := range []string{"anchors/001", "anchors/002"} {
		var ai AnchorInfo
		json.Unmarshal(files[a+"/anchor.json"], &ai)
		cmd := exec.Command("openssl", "ts", "-verify", "-data", ai.Checkpoint, "-in", a+"/token.tsr", "-CAfile", a+"/ca.pem", "-untrusted", a+"/tsa.pem")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("Verification: OK")) {
			t.Errorf("openssl ts -verify of %s, as VERIFY.md says: %v\n%s", a, err, out)
		}
	}
	// The leaf hash as VERIFY.md computes it with generic tools.
	first := index(t, files)[0]
	cmd = exec.Command("sh", "-c", fmt.Sprintf("(printf '\\0'; cat entries/%d/header) | openssl dgst -sha256 -binary | base64", first.Index))
	cmd.Dir = dir
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != first.LeafHash {
		t.Errorf("leaf hash by the generic tools = %q, %v; index says %s", out, err, first.LeafHash)
	}
	if !bytes.Contains(files[VerifyFile], []byte("openssl ts -verify -data log/checkpoints/")) {
		t.Error("VERIFY.md lacks the openssl command for the time-stamps")
	}
}

func TestKeyPinning(t *testing.T) {
	e := newEnv(t, false)
	id, _ := e.scenario(t)
	files, _, err := Build(context.Background(), e.deps(), id, Options{Langs: []string{"en"}})
	if err != nil {
		t.Fatal(err)
	}
	r := Verify(files, VerifyOptions{})
	if !r.OK() || r.KeyPinned || !strings.Contains(r.String(), "TAKEN FROM THE BUNDLE ITSELF") {
		t.Errorf("unpinned: ok %v pinned %v\n%s", r.OK(), r.KeyPinned, r)
	}
	_, other, _ := evidence.GenerateKey(testOrigin)
	r = Verify(files, VerifyOptions{VKey: other})
	if r.OK() || !strings.Contains(r.String(), "log/vkey: the bundle's key is not the pinned key") {
		t.Errorf("another key of the same name verified the bundle:\n%s", r)
	}
	if !strings.Contains(r.String(), "log/checkpoints/") {
		t.Errorf("the checkpoints don't fail under another key:\n%s", r)
	}
	if !strings.Contains(r.String(), "no RFC 3161 time-stamp") {
		t.Errorf("a bundle without time-stamps doesn't say so:\n%s", r)
	}
}

// TestTamper changes every part of a bundle and checks that verification
// names the file and the entry. Each change is tried as is (the manifest
// catches it) and with the manifest and SHA256SUMS recomputed, as a
// forger would, so that the check behind it must catch it.
func TestTamper(t *testing.T) {
	e := newEnv(t, true)
	id, note := e.scenario(t)
	good, _, err := Build(context.Background(), e.deps(), id, Options{Langs: []string{"en"}})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ParseManifest(good[ManifestFile])
	decision := indexOf(t, good, "decision")
	final := checkpointFile(m.TreeSize)
	var firstCP int64
	json.Unmarshal(good["anchors/001/anchor.json"], &struct {
		TreeSize *int64 `json:"tree_size"`
	}{&firstCP})
	flip := func(b []byte, at int) []byte { b = bytes.Clone(b); b[at] ^= 1; return b }
	cases := []struct {
		name string
		mut  func(f Files)
		// want are substrings of one problem: without and with resealing.
		file, plain, resealed string
	}{
		{"entry header", func(f Files) {
			f[entryFile(note, headerName)] = bytes.Replace(f[entryFile(note, headerName)], []byte(`"actor":"paola"`), []byte(`"actor":"paolo"`), 1)
		}, entryFile(note, headerName), "SHA-256 is", fmt.Sprintf("(entry %d): leaf hash is", note)},
		{"entry header and index", func(f Files) {
			p := entryFile(note, headerName)
			f[p] = bytes.Replace(f[p], []byte(`"actor":"paola"`), []byte(`"actor":"paolo"`), 1)
			idx := index(t, f)
			for k := range idx {
				if idx[k].Index == note {
					idx[k].Actor, idx[k].LeafHash = "paolo", evidence.LeafHash(f[p]).String()
				}
			}
			f[IndexFile], _ = json.MarshalIndent(idx, "", "  ")
		}, entryFile(note, proofName), "", fmt.Sprintf("(entry %d): inclusion proof in the tree of size %d doesn't verify", note, m.TreeSize)},
		{"payload", func(f Files) {
			f[entryFile(note, payloadName)] = bytes.Replace(f[entryFile(note, payloadName)], []byte("Mario"), []byte("Marco"), 1)
		}, entryFile(note, payloadName), "SHA-256 is", fmt.Sprintf("(entry %d): payload doesn't match the header's commitment", note)},
		{"decision payload", func(f Files) {
			f[entryFile(decision, payloadName)] = bytes.Replace(f[entryFile(decision, payloadName)], []byte(`"verdict":"allow"`), []byte(`"verdict":"deny"`), 1)
		}, entryFile(decision, payloadName), "SHA-256 is", fmt.Sprintf("(entry %d): payload doesn't match", decision)},
		{"proof", func(f Files) {
			p := entryFile(note, proofName)
			lines := strings.SplitN(string(f[p]), "\n", 4)
			h := []byte(lines[2])
			h[0] ^= 'A' ^ 'B'
			lines[2] = string(h)
			f[p] = []byte(strings.Join(lines, "\n"))
		}, entryFile(note, proofName), "SHA-256 is", fmt.Sprintf("(entry %d): ", note)},
		{"checkpoint", func(f Files) { f[final] = flip(f[final], len(testOrigin)+4) }, final, "SHA-256 is", "signature doesn't verify"},
		{"consistency proof", func(f Files) {
			// Another base64 letter: a flipped bit could make a
			// character base64 doesn't have, which fails differently.
			p := consistencyFile(firstCP, nextCP(good, firstCP))
			f[p] = bytes.Clone(f[p])
			if f[p][3] == 'A' {
				f[p][3] = 'B'
			} else {
				f[p][3] = 'A'
			}
		}, "log/consistency/", "SHA-256 is", "doesn't verify"},
		{"token", func(f Files) {
			p := "anchors/001/token.tsr"
			f[p] = flip(f[p], len(f[p])-40)
		}, "anchors/001/token.tsr", "SHA-256 is", "time-stamp doesn't verify"},
		{"token of another checkpoint", func(f Files) {
			f["anchors/001/token.tsr"], f["anchors/002/token.tsr"] = f["anchors/002/token.tsr"], f["anchors/001/token.tsr"]
		}, "anchors/00", "SHA-256 is", "not the data's"},
		{"manifest", func(f Files) {
			f[ManifestFile] = bytes.Replace(f[ManifestFile], []byte(`"incident": "`+id), []byte(`"incident": "INC-FORGED`), 1)
		}, ManifestFile, "SHA256SUMS says", ""},
		{"missing payload", func(f Files) { delete(f, entryFile(note, payloadName)) }, entryFile(note, payloadName), "missing: the manifest lists it", "payload and salt must come together"},
		{"missing payload and salt", func(f Files) {
			delete(f, entryFile(note, payloadName))
			delete(f, entryFile(note, saltName))
		}, entryFile(note, payloadName), "missing: the manifest lists it", "payload missing, and no erasure entry accounts for it"},
		{"missing proof", func(f Files) { delete(f, entryFile(note, proofName)) }, entryFile(note, proofName), "missing", "missing"},
		{"missing checkpoint", func(f Files) { delete(f, checkpointFile(firstCP)) }, "", "missing", "not a valid checkpoint of the bundle"},
		{"extra file", func(f Files) { f["entries/999999/header"] = []byte("{}") }, "entries/999999/header", "extra file: not in the manifest", "not an entry listed in entries/index.json"},
		{"extra file elsewhere", func(f Files) { f["notes.txt"] = []byte("hi") }, "notes.txt", "extra file: not in the manifest", "not part of any check"},
		{"fake erasure", func(f Files) {
			delete(f, entryFile(note, payloadName))
			delete(f, entryFile(note, saltName))
			idx := index(t, f)
			for k := range idx {
				if idx[k].Index == note {
					idx[k].Erased, idx[k].ErasedBy = true, &decision
				}
			}
			f[IndexFile], _ = json.MarshalIndent(idx, "", "  ")
		}, IndexFile, "SHA-256 is", fmt.Sprintf("(entry %d): erased by entry %d, which is a \"decision\" entry, not an erasure", note, decision)},
		{"rule pack", func(f Files) {
			for p := range f {
				if strings.HasPrefix(p, "packs/") && strings.HasSuffix(p, "rules.cedar") {
					f[p] = append(f[p], []byte("\n// changed\n")...)
				}
			}
		}, "packs/", "SHA-256 is", "rule pack digest is"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, reseal := range []bool{false, true} {
				want := tc.plain
				if reseal {
					want = tc.resealed
				}
				if want == "" {
					continue
				}
				f := clone(good)
				tc.mut(f)
				if reseal {
					seal(f, m)
				}
				r := Verify(f, VerifyOptions{VKey: e.vkey})
				if r.OK() {
					t.Fatalf("reseal=%v: the change went unnoticed", reseal)
				}
				found := false
				for _, p := range r.Problems {
					if strings.Contains(p.String(), tc.file) && strings.Contains(p.String(), want) {
						found = true
					}
				}
				if !found {
					t.Errorf("reseal=%v: no problem naming %q with %q; got:\n%s", reseal, tc.file, want, r)
				}
			}
		})
	}
}

func nextCP(f Files, n int64) int64 {
	best := int64(-1)
	for p := range f {
		if s, ok := strings.CutPrefix(p, "log/checkpoints/"); ok {
			var m int64
			fmt.Sscan(s, &m)
			if m > n && (best < 0 || m < best) {
				best = m
			}
		}
	}
	return best
}

// TestErasure erases personal data from an exported entry's payload: the
// old bundle still verifies, and a new one verifies and shows the erasure
// (which entry, when, by whom, why) without the erased data anywhere.
func TestErasure(t *testing.T) {
	e := newEnv(t, true)
	id, note := e.scenario(t)
	ctx := context.Background()
	before, _, err := Build(ctx, e.deps(), id, Options{Langs: []string{"en"}})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := e.log.Erase(ctx, note, "GDPR art. 17 request 2026-114 (Mario Rossi)", "dpo/giulia")
	if err != nil {
		t.Fatal(err)
	}
	e.index(t)
	if r := Verify(before, VerifyOptions{VKey: e.vkey}); !r.OK() {
		t.Errorf("the bundle made before the erasure no longer verifies:\n%s", r)
	}
	after, rep, err := Build(ctx, e.deps(), id, Options{Langs: []string{"en", "it"}})
	if err != nil {
		t.Fatal(err)
	}
	r := Verify(after, VerifyOptions{VKey: e.vkey})
	if !r.OK() {
		t.Fatalf("bundle with an erased entry doesn't verify:\n%s", r)
	}
	if len(r.Erasures) != 1 || r.Erasures[0].Index != note || r.Erasures[0].By != rc.Index || r.Erasures[0].Actor != "dpo/giulia" || !strings.Contains(r.Erasures[0].Reason, "art. 17") {
		t.Fatalf("erasures = %+v, want entry %d erased by %d (dpo/giulia, art. 17)", r.Erasures, note, rc.Index)
	}
	if !strings.Contains(r.String(), "1 erased, each by a logged erasure entry in the bundle that names it") {
		t.Errorf("the account doesn't show the erasure:\n%s", r)
	}
	if _, ok := after[entryFile(note, payloadName)]; ok {
		t.Error("the erased payload is in the bundle")
	}
	if _, ok := after[entryFile(note, headerName)]; !ok {
		t.Error("the erased entry's header (with its commitment) is not in the bundle")
	}
	for p, b := range after {
		if bytes.Contains(b, []byte("333 1234567")) {
			t.Errorf("%s still holds the erased phone number", p)
		}
	}
	html := string(after["report/report.en.html"])
	for _, s := range []string{"Erased personal data", "dpo/giulia", "GDPR art. 17 request 2026-114", fmt.Sprintf("<td>%d</td><td>%d</td>", note, rc.Index)} {
		if !strings.Contains(html, s) {
			t.Errorf("the report doesn't show %q", s)
		}
	}
	if len(rep.Erasures) != 1 {
		t.Errorf("export's report has %d erasures", len(rep.Erasures))
	}
	// Dropping the erasure entry from the bundle is caught.
	f := clone(after)
	for p := range f {
		if strings.HasPrefix(p, fmt.Sprintf("entries/%d/", rc.Index)) {
			delete(f, p)
		}
	}
	idx := index(t, f)
	var kept []IndexEntry
	for _, ie := range idx {
		if ie.Index != rc.Index {
			kept = append(kept, ie)
		}
	}
	f[IndexFile], _ = json.Marshal(kept)
	m, _ := ParseManifest(f[ManifestFile])
	seal(f, m)
	if r := Verify(f, VerifyOptions{VKey: e.vkey}); r.OK() || !strings.Contains(r.String(), fmt.Sprintf("erased by entry %d, which is not in the bundle", rc.Index)) {
		t.Errorf("a bundle without the erasure entry:\n%s", r)
	}
}

func TestExportErrors(t *testing.T) {
	e := newEnv(t, false)
	e.scenario(t)
	if _, _, err := Build(context.Background(), e.deps(), "INC-NOPE", Options{}); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("unknown incident: err = %v, want ErrNotFound", err)
	}
	if _, _, err := Build(context.Background(), e.deps(), "INC-NOPE", Options{Langs: []string{"de"}}); err == nil || !strings.Contains(err.Error(), "want it or en") {
		t.Errorf("unknown language: err = %v", err)
	}
	if err := WriteDir(t.TempDir(), Files{"x": nil}); err != nil {
		t.Errorf("empty directory refused: %v", err)
	}
	d := t.TempDir()
	os.WriteFile(filepath.Join(d, "keep"), []byte("x"), 0o600)
	if err := WriteDir(d, Files{"x": nil}); err == nil {
		t.Error("WriteDir wrote into a non-empty directory")
	}
	_ = tsa.AnchorKind
}

// TestAllHeaders: with every header of the log, the bundle proves that no
// entry naming the incident was left out, and dropping one is caught.
func TestAllHeaders(t *testing.T) {
	e := newEnv(t, false)
	id, note := e.scenario(t)
	files, _, err := Build(context.Background(), e.deps(), id, Options{Langs: []string{"en"}, AllHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	r := Verify(files, VerifyOptions{VKey: e.vkey})
	if !r.OK() || !r.Complete || !strings.Contains(r.String(), "completeness: the bundle holds all") {
		t.Fatalf("all headers:\n%s", r)
	}
	if !bytes.Contains(files["report/report.en.html"], []byte("so no entry naming this incident was left out")) {
		t.Error("the report doesn't state completeness")
	}
	m, _ := ParseManifest(files[ManifestFile])
	// Leave the note out, as an exporter hiding it would.
	f := clone(files)
	for p := range f {
		if strings.HasPrefix(p, fmt.Sprintf("entries/%d/", note)) {
			delete(f, p)
		}
	}
	var kept []IndexEntry
	for _, ie := range index(t, f) {
		if ie.Index != note {
			kept = append(kept, ie)
		}
	}
	f[IndexFile], _ = json.Marshal(kept)
	seal(f, m)
	if r := Verify(f, VerifyOptions{VKey: e.vkey}); r.OK() || !strings.Contains(r.String(), fmt.Sprintf("log/headers/0 (entry %d): entry %d names incident %s but is not in the bundle's entries", note, note, id)) {
		t.Errorf("an omitted entry:\n%s", r)
	}
	// Change the note's header in log/headers/ too: the headers' tree is no longer the signed one.
	f = clone(files)
	f["log/headers/0"] = bytes.Replace(f["log/headers/0"], []byte(`"actor":"paola"`), []byte(`"actor":"paolo"`), 1)
	seal(f, m)
	if r := Verify(f, VerifyOptions{VKey: e.vkey}); r.OK() || !strings.Contains(r.String(), "header differs from entries/") {
		t.Errorf("a changed header in log/headers:\n%s", r)
	}
	// Drop the last headers: the count is wrong.
	f = clone(files)
	hs, _ := evidence.SplitEntryBundle(f["log/headers/0"])
	var short []byte
	for _, h := range hs[:len(hs)-1] {
		short = evidence.AppendEntryBundleEntry(short, h)
	}
	f["log/headers/0"] = short
	seal(f, m)
	if r := Verify(f, VerifyOptions{VKey: e.vkey}); r.OK() || !strings.Contains(r.String(), "headers, the final tree has") {
		t.Errorf("missing headers:\n%s", r)
	}
}

// TestWithFiles: --with-files copies the evidence files a sensor's
// quarantine holds, names the ones it doesn't, and a changed file is caught.
func TestWithFiles(t *testing.T) {
	e := newEnv(t, false)
	id, _ := e.scenario(t)
	root := t.TempDir()
	q := filepath.Join(root, "sensors", "ssh", "quarantine")
	os.MkdirAll(q, 0o700)
	content := []byte("memory image")
	os.WriteFile(filepath.Join(q, sha256Hex(content)), content, 0o600)
	ctx := context.Background()
	// A second item whose file nobody holds.
	if _, err := e.desk.AcquireEvidence(ctx, paola, id, incident.EvidenceInput{SHA256: sha256Hex([]byte("lost")), Size: 4, MediaType: "text/plain", Source: "usb", Tool: "dd", Method: "copy"}); err != nil {
		t.Fatal(err)
	}
	e.index(t)
	deps := e.deps()
	deps.Files = QuarantineFiles{Root: root}
	files, _, err := Build(ctx, deps, id, Options{Langs: []string{"en"}, WithFiles: true})
	if err != nil {
		t.Fatal(err)
	}
	name := "evidence/files/" + sha256Hex(content)
	if !bytes.Equal(files[name], content) {
		t.Fatalf("%s missing or wrong", name)
	}
	r := Verify(files, VerifyOptions{VKey: e.vkey})
	if !r.OK() || !strings.Contains(r.String(), "evidence files: 1, each named by its SHA-256") {
		t.Fatalf("with files:\n%s", r)
	}
	html := string(files["report/report.en.html"])
	if !strings.Contains(html, "Files asked for but not held by Vallum") || !strings.Contains(html, sha256Hex([]byte("lost"))) {
		t.Error("the report doesn't name the file Vallum doesn't hold")
	}
	f := clone(files)
	f[name] = []byte("memory imagE")
	m, _ := ParseManifest(f[ManifestFile])
	seal(f, m)
	if r := Verify(f, VerifyOptions{VKey: e.vkey}); r.OK() || !strings.Contains(r.String(), name+": evidence file's SHA-256 is") {
		t.Errorf("a changed evidence file:\n%s", r)
	}
	if _, err := (QuarantineFiles{Root: root}).Open("../../etc/passwd"); err == nil {
		t.Error("QuarantineFiles opened a path that is not a SHA-256")
	}
}

func TestFileName(t *testing.T) {
	for _, tc := range []struct{ id, want string }{
		{"INC-2026-0007", "vallum-bundle-INC-2026-0007.tar.gz"},
		{"inc_7", "vallum-bundle-inc_7.tar.gz"},
		{`a/../b"c d`, "vallum-bundle-a____b_c_d.tar.gz"},
		{"città", "vallum-bundle-citt_.tar.gz"},
	} {
		if got := FileName(tc.id); got != tc.want {
			t.Errorf("FileName(%q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

// TestReadingAids: the report, VERIFY.md and evidence/items.json are
// covered by no proof of the log, so a holder can rewrite them and reseal
// the manifest. Verify must not rely on them and must say, in the account
// and the JSON, that they are not verified; a file planted under
// evidence/files/ that no logged entry names fails. The export of a
// bundle is logged with its manifest's SHA-256, which a later bundle of
// the incident shows.
func TestReadingAids(t *testing.T) {
	e := newEnv(t, false)
	id, _ := e.scenario(t)
	ctx := context.Background()
	opts := Options{Langs: []string{"en"}}
	good, _, err := Build(ctx, e.deps(), id, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ParseManifest(good[ManifestFile])
	planted := []byte("planted by the bundle's holder")
	cases := []struct {
		name string
		mut  func(f Files)
		// ok: the bundle still verifies, naming notVerified as such;
		// otherwise a problem naming file with want.
		ok                bool
		notVerified, want string
	}{
		{"report changed", func(f Files) {
			f["report/report.en.html"] = bytes.ReplaceAll(f["report/report.en.html"], []byte("ransomware on ws7"), []byte("a false alarm"))
		}, true, "report/report.en.html", ""},
		{"report added", func(f Files) { f["report/report.it.html"] = []byte("<p>tutto a posto</p>") }, true, "report/report.it.html", ""},
		{"VERIFY.md changed", func(f Files) {
			f[VerifyFile] = []byte("# How to verify this bundle\n\nNo need: trust us.\n")
		}, true, VerifyFile, ""},
		{"items changed", func(f Files) {
			f[ItemsFile] = bytes.ReplaceAll(f[ItemsFile], []byte("S-0042"), []byte("S-9999"))
		}, true, ItemsFile, ""},
		{"planted evidence file", func(f Files) { f["evidence/files/"+sha256Hex(planted)] = planted }, false, "",
			"evidence/files/" + sha256Hex(planted) + ": no logged entry of the bundle (evidence.acquired or evidence.custody) names this SHA-256"},
		{"planted file under report/", func(f Files) { f["report/extra.html"] = planted }, false, "", "report/extra.html: file is not part of any check"},
		{"planted file under evidence/", func(f Files) { f["evidence/notes.txt"] = planted }, false, "", "evidence/notes.txt: file is not part of any check"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := clone(good)
			tc.mut(f)
			seal(f, m)
			r := Verify(f, VerifyOptions{VKey: e.vkey})
			if !tc.ok {
				if r.OK() || !strings.Contains(r.String(), tc.want) {
					t.Fatalf("want a problem %q; got:\n%s", tc.want, r)
				}
				return
			}
			if !r.OK() {
				t.Fatalf("a reading aid changed: want the bundle verified with the aid named as not verified; got:\n%s", r)
			}
			if !slices.Contains(r.NotVerified, tc.notVerified) {
				t.Errorf("not_verified = %v, want it to name %s", r.NotVerified, tc.notVerified)
			}
			if s := r.String(); !strings.Contains(s, "NOT VERIFIED: ") || !strings.Contains(s, tc.notVerified) {
				t.Errorf("the account doesn't say %s is not verified:\n%s", tc.notVerified, s)
			}
			js, _ := json.Marshal(r)
			if !bytes.Contains(js, []byte(`"not_verified":[`)) || !bytes.Contains(js, []byte(tc.notVerified)) {
				t.Errorf("the JSON doesn't say %s is not verified: %s", tc.notVerified, js)
			}
			if r.Incident != id || len(r.Entries) == 0 {
				t.Errorf("the account's facts changed with a reading aid: incident %q, %d entries", r.Incident, len(r.Entries))
			}
		})
	}
	// The untouched bundle says the same of its reading aids.
	r := Verify(good, VerifyOptions{VKey: e.vkey})
	if want := []string{VerifyFile, ItemsFile, "report/report.en.html"}; !r.OK() || !slices.Equal(r.NotVerified, want) {
		t.Errorf("not_verified = %v, want %v\n%s", r.NotVerified, want, r)
	}
	if !bytes.Contains(good["report/report.en.html"], []byte("NOT VERIFIED: this report is a reading aid")) || !bytes.Contains(good[VerifyFile], []byte("**Not verified:**")) {
		t.Error("the report or VERIFY.md doesn't say it is not verified")
	}
	// The export is logged with the manifest's SHA-256; a later bundle
	// holds that entry, so the first bundle's manifest can be checked.
	if _, err := LogExport(ctx, e.log, "marta", id, good, opts); err != nil {
		t.Fatal(err)
	}
	e.index(t)
	later, _, err := Build(ctx, e.deps(), id, opts)
	if err != nil {
		t.Fatal(err)
	}
	lr := Verify(later, VerifyOptions{VKey: e.vkey})
	if !lr.OK() || len(lr.Exports) != 1 || lr.Exports[0].ManifestSHA256 != r.ManifestSHA256 || r.ManifestSHA256 != sha256Hex(good[ManifestFile]) {
		t.Errorf("later bundle's exports = %+v, want one naming manifest SHA-256 %s\n%s", lr.Exports, r.ManifestSHA256, lr)
	}
	if !strings.Contains(lr.String(), "export: entry") {
		t.Errorf("the account doesn't show the logged export:\n%s", lr)
	}
}

package bundle

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/tsa"
)

// IndexEntry is one entry of entries/index.json.
type IndexEntry struct {
	Index    int64  `json:"index"`
	Kind     string `json:"kind"`
	Time     string `json:"time"`
	Actor    string `json:"actor"`
	Incident string `json:"incident"`
	LeafHash string `json:"leaf_hash"`
	// Erased marks an entry whose payload was erased; ErasedBy is the
	// erasure entry (in the bundle) that erased it.
	Erased   bool   `json:"erased,omitempty"`
	ErasedBy *int64 `json:"erased_by,omitempty"`
	// Why says why the entry is in the bundle ("incident", "decision",
	// "linked event", "erasure", "anchor", …).
	Why string `json:"why"`
}

// AnchorInfo is anchors/<n>/anchor.json.
type AnchorInfo struct {
	TreeSize    int64  `json:"tree_size"`
	Checkpoint  string `json:"checkpoint"`
	Authority   string `json:"authority"`
	URL         string `json:"url"`
	GenTime     string `json:"gen_time"`
	Serial      string `json:"serial"`
	Hash        string `json:"hash"`
	TokenSHA256 string `json:"token_sha256"`
	// LogIndex is the "anchor" entry that logged the token (-1 if none).
	LogIndex int64  `json:"log_index"`
	Reason   string `json:"reason"`
}

// PackInfo is one rule pack of packs/index.json.
type PackInfo struct {
	Digest  string `json:"digest"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// Decisions are the decision entries the pack made.
	Decisions []int64 `json:"decisions"`
	// Dir holds the pack's files in the bundle, "" if they weren't
	// available to the exporter.
	Dir string `json:"dir,omitempty"`
}

// Per-entry file names under entries/<index>/.
const (
	headerName  = "header"
	payloadName = "payload.json"
	saltName    = "salt"
	proofName   = "tlog-proof"
)

func entryFile(i int64, name string) string {
	return "entries/" + strconv.FormatInt(i, 10) + "/" + name
}

func checkpointFile(n int64) string { return "log/checkpoints/" + strconv.FormatInt(n, 10) }

func headersFile(start int64) string { return "log/headers/" + strconv.FormatInt(start, 10) }

func consistencyFile(a, b int64) string {
	return "log/consistency/" + strconv.FormatInt(a, 10) + "-" + strconv.FormatInt(b, 10)
}

// VerifyOptions are what the expert pins.
type VerifyOptions struct {
	// VKey is the log's verifier key obtained independently of the bundle
	// (signed-note form). Empty: the bundle's own log/vkey is used, which
	// proves nothing against whoever made the bundle; the report says so.
	VKey string
	// TSARoots, if set, are the trusted roots (PEM) for every time-stamp;
	// otherwise each anchor's ca.pem in the bundle is used, with a warning.
	TSARoots []byte
	// Now is the verification time (time.Now if zero), only reported.
	Now time.Time

	skipManifest bool
}

// Problem is one verification failure: the file and, if it concerns an
// entry, its log index (-1 otherwise).
type Problem struct {
	File  string `json:"file"`
	Index int64  `json:"index"`
	What  string `json:"what"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Index >= 0 {
		fmt.Fprintf(&b, " (entry %d)", p.Index)
	}
	b.WriteString(": ")
	b.WriteString(p.What)
	return b.String()
}

// EntryStatus is what the verification established for one entry.
type EntryStatus struct {
	Index    int64  `json:"index"`
	Kind     string `json:"kind"`
	Time     string `json:"time"`
	Actor    string `json:"actor"`
	LeafHash string `json:"leaf_hash"`
	Erased   bool   `json:"erased,omitempty"`
	// Anchor is the earliest verified time-stamp of a tree holding the
	// entry: it existed no later than AnchorTime.
	AnchorTime      time.Time `json:"anchor_time,omitzero"`
	AnchorAuthority string    `json:"anchor_authority,omitempty"`
}

// AnchorStatus is one verified (or failed) time-stamp.
type AnchorStatus struct {
	Dir         string    `json:"dir"`
	Authority   string    `json:"authority"`
	TreeSize    int64     `json:"tree_size"`
	Time        time.Time `json:"gen_time"`
	Serial      string    `json:"serial"`
	Signer      string    `json:"signer"`
	ESSCertIDv2 bool      `json:"ess_cert_id_v2"`
	Qualified   bool      `json:"qualified"`
	OK          bool      `json:"ok"`
}

// Erasure is an erased payload, as the bundle shows it.
type Erasure struct {
	Index  int64  `json:"index"`
	By     int64  `json:"by"`
	At     string `json:"at"`
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

// Report is the result of Verify.
type Report struct {
	Incident  string `json:"incident"`
	Origin    string `json:"origin"`
	TreeSize  int64  `json:"tree_size"`
	Root      string `json:"root"`
	KeyPinned bool   `json:"key_pinned"`
	VKey      string `json:"vkey"`
	Files     int    `json:"files"`
	// ManifestChecked is false for the verification export runs before
	// the manifest exists.
	ManifestChecked bool `json:"manifest_checked"`
	// Complete reports that the bundle holds every header of the log and
	// that every entry naming the incident is among its entries.
	Complete    bool           `json:"complete"`
	Checkpoints []int64        `json:"checkpoints"`
	Entries     []EntryStatus  `json:"entries"`
	Erasures    []Erasure      `json:"erasures"`
	Anchors     []AnchorStatus `json:"anchors"`
	Packs       []PackInfo     `json:"packs"`
	Checks      []string       `json:"checks"`
	Problems    []Problem      `json:"problems"`
	Warnings    []string       `json:"warnings"`
	// NotVerified are the bundle's reading aids — VERIFY.md,
	// evidence/items.json and report/* — that no proof of the log covers:
	// the manifest and SHA256SUMS that list them are signed and logged by
	// nothing, so whoever holds the bundle can rewrite them and reseal it.
	// Verify reads none of them; the entries are the evidence.
	NotVerified []string `json:"not_verified"`
	// ManifestSHA256 is the SHA-256 of manifest.json: the export of this
	// bundle is logged with it in a bundle.exported entry, which comes
	// after the bundle's tree and so is not in it, but is in the log and
	// in later bundles of the incident (Exports there).
	ManifestSHA256 string `json:"manifest_sha256"`
	// Exports are the bundle.exported entries of the bundle: earlier
	// exports of the incident, each proven like every entry.
	Exports []ExportRecord `json:"exports"`
}

// ExportRecord is a logged export of a bundle of the incident.
type ExportRecord struct {
	Index          int64  `json:"index"`
	Time           string `json:"time"`
	Actor          string `json:"actor"`
	ManifestSHA256 string `json:"manifest_sha256"`
	TreeSize       int64  `json:"tree_size"`
}

// readingAid reports whether p is one of the files a bundle holds for
// people to read, which no proof of the log covers.
func readingAid(p string) bool {
	if p == VerifyFile || p == ItemsFile {
		return true
	}
	name, ok := strings.CutPrefix(p, "report/report.")
	if !ok {
		return false
	}
	for l := range dict {
		if name == l+".html" || name == l+".pdf" {
			return true
		}
	}
	return false
}

// notVerifiedLine is the account's statement about the reading aids.
const notVerifiedLine = "NOT VERIFIED: %s are reading aids made by the exporter; no proof of the log covers them (manifest.json and SHA256SUMS are signed by nothing), so anyone holding the bundle can rewrite them: rely on the entries, not on them\n"

// OK reports whether the bundle verified.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// String is the readable account.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Bundle of incident %s, log %s, tree size %d, root %s\n", r.Incident, r.Origin, r.TreeSize, r.Root)
	if r.KeyPinned {
		fmt.Fprintf(&b, "Log key: pinned with --vkey (%s)\n", r.VKey)
	} else {
		fmt.Fprintf(&b, "Log key: TAKEN FROM THE BUNDLE ITSELF (log/vkey: %s); pin the key the organisation published with --vkey\n", r.VKey)
	}
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "ok    %s\n", c)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "note  %s\n", w)
	}
	for _, e := range r.Exports {
		fmt.Fprintf(&b, "export: entry %d logs that %s exported a bundle of tree size %d with manifest.json SHA-256 %s\n", e.Index, e.Actor, e.TreeSize, e.ManifestSHA256)
	}
	if r.ManifestSHA256 != "" {
		fmt.Fprintf(&b, "manifest.json SHA-256: %s (compare it with the bundle.exported entry that logged this export, in the log or in a later bundle of the incident)\n", r.ManifestSHA256)
	}
	if len(r.NotVerified) > 0 {
		fmt.Fprintf(&b, notVerifiedLine, strings.Join(r.NotVerified, ", "))
	}
	if r.OK() {
		fmt.Fprintf(&b, "VERIFIED: %d entries, %d checkpoints, %d time-stamps, %d erased payloads\n", len(r.Entries), len(r.Checkpoints), len(r.Anchors), len(r.Erasures))
		return b.String()
	}
	fmt.Fprintf(&b, "FAILED: %d problems\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  - %s\n", p)
	}
	return b.String()
}

type verifier struct {
	files   Files
	opts    VerifyOptions
	rep     *Report
	used    map[string]bool
	key     note.Verifier
	origin  string
	cps     map[int64]evidence.Checkpoint
	cpBytes map[string]int64
	headers map[int64]evidence.Header
	leaves  map[int64]tlog.Hash
	payload map[int64][]byte
}

func (v *verifier) fail(file string, i int64, format string, args ...any) {
	if len(v.rep.Problems) < 1000 {
		v.rep.Problems = append(v.rep.Problems, Problem{File: file, Index: i, What: fmt.Sprintf(format, args...)})
	}
}

func (v *verifier) warn(format string, args ...any) {
	switch n := len(v.rep.Warnings); {
	case n < 100:
		v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf(format, args...))
	case n == 100:
		v.rep.Warnings = append(v.rep.Warnings, "… more notes left out")
	}
}

// get returns a file and marks it as accounted for.
func (v *verifier) get(p string) ([]byte, bool) {
	b, ok := v.files[p]
	if ok {
		v.used[p] = true
	}
	return b, ok
}

// Verify checks a bundle offline and returns the account. It never
// returns an error for a bad bundle: every failure is a Problem naming
// the file and the entry.
func Verify(files Files, opts VerifyOptions) *Report {
	v := &verifier{files: files, opts: opts, rep: &Report{Files: len(files)}, used: map[string]bool{},
		cps: map[int64]evidence.Checkpoint{}, cpBytes: map[string]int64{}, headers: map[int64]evidence.Header{}, leaves: map[int64]tlog.Hash{}, payload: map[int64][]byte{}}
	m, ok := v.manifest()
	if !ok {
		return v.rep
	}
	if !v.verifierKey(m) {
		return v.rep
	}
	v.checkpoints(m)
	v.entries()
	v.allHeaders()
	v.anchors()
	v.packs()
	v.evidenceFiles()
	v.exports()
	v.rep.NotVerified = []string{}
	for _, p := range files.Paths() {
		switch {
		case v.used[p] || p == ManifestFile || p == SumsFile:
		case readingAid(p):
			v.rep.NotVerified = append(v.rep.NotVerified, p)
		default:
			v.fail(p, -1, "file is not part of any check (not in entries/index.json, not a checkpoint, proof, anchor, pack or logged evidence file, nor a reading aid)")
		}
	}
	return v.rep
}

func (v *verifier) manifest() (Manifest, bool) {
	mb, ok := v.files[ManifestFile]
	if !ok {
		v.fail(ManifestFile, -1, "missing")
		return Manifest{}, false
	}
	m, err := ParseManifest(mb)
	if err != nil {
		v.fail(ManifestFile, -1, "%v", err)
		return m, false
	}
	v.rep.Incident, v.rep.Origin, v.rep.TreeSize = m.Incident, m.Origin, m.TreeSize
	if v.opts.skipManifest {
		return m, true
	}
	v.rep.ManifestChecked = true
	v.rep.ManifestSHA256 = sha256Hex(mb)
	listed := map[string]bool{}
	bad := len(v.rep.Problems)
	for _, f := range m.Files {
		listed[f.Path] = true
		b, ok := v.files[f.Path]
		if !ok {
			v.fail(f.Path, -1, "missing: the manifest lists it")
			continue
		}
		if got := sha256Hex(b); got != f.SHA256 {
			v.fail(f.Path, -1, "SHA-256 is %s, the manifest says %s", got, f.SHA256)
		}
	}
	for _, p := range v.files.Paths() {
		if !listed[p] && p != ManifestFile && p != SumsFile {
			v.fail(p, -1, "extra file: not in the manifest")
		}
	}
	// SHA256SUMS, for sha256sum -c, must say the same and cover the manifest.
	sums, ok := v.files[SumsFile]
	if !ok {
		v.fail(SumsFile, -1, "missing")
	} else {
		seen := map[string]bool{}
		for n, line := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
			sum, p, ok := strings.Cut(line, "  ")
			if !ok {
				v.fail(SumsFile, -1, "line %d is not \"<sha256>  <path>\"", n+1)
				continue
			}
			seen[p] = true
			b, ok := v.files[p]
			switch {
			case !ok:
				v.fail(SumsFile, -1, "line %d names %s, which is missing", n+1, p)
			case sha256Hex(b) != sum:
				v.fail(p, -1, "SHA-256 is %s, SHA256SUMS says %s", sha256Hex(b), sum)
			}
		}
		for _, p := range v.files.Paths() {
			if !seen[p] && p != SumsFile {
				v.fail(p, -1, "not listed in SHA256SUMS")
			}
		}
	}
	if len(v.rep.Problems) == bad {
		v.rep.Checks = append(v.rep.Checks, fmt.Sprintf("manifest: %d files, the SHA-256 of each matches manifest.json and SHA256SUMS", len(v.files)))
	}
	return m, true
}

func (v *verifier) verifierKey(m Manifest) bool {
	vkey := strings.TrimSpace(v.opts.VKey)
	v.rep.KeyPinned = vkey != ""
	if vkey == "" {
		b, ok := v.get(VKeyFile)
		if !ok {
			v.fail(VKeyFile, -1, "missing, and no key was pinned with --vkey")
			return false
		}
		vkey = strings.TrimSpace(string(b))
		v.warn("the log's verifier key was taken from the bundle itself: it proves the entries are consistent with each other, not that this organisation's log signed them; pin the published key with --vkey")
	} else {
		v.get(VKeyFile)
		if b, ok := v.files[VKeyFile]; ok && strings.TrimSpace(string(b)) != vkey {
			v.fail(VKeyFile, -1, "the bundle's key is not the pinned key %s", vkey)
		}
	}
	k, err := note.NewVerifier(vkey)
	if err != nil {
		v.fail(VKeyFile, -1, "verifier key is malformed: %v", err)
		return false
	}
	v.key, v.origin, v.rep.VKey = k, k.Name(), vkey
	if m.Origin != v.origin {
		v.fail(ManifestFile, -1, "origin %q, the key's is %q", m.Origin, v.origin)
	}
	return true
}

func (v *verifier) checkpoints(m Manifest) {
	bad := len(v.rep.Problems)
	for _, p := range v.files.Paths() {
		s, ok := strings.CutPrefix(p, "log/checkpoints/")
		if !ok {
			continue
		}
		v.used[p] = true
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != s {
			v.fail(p, -1, "not named by a tree size")
			continue
		}
		c, err := evidence.OpenCheckpoint(v.files[p], v.origin, v.key)
		if err != nil {
			v.fail(p, -1, "%v", err)
			continue
		}
		if c.N != n {
			v.fail(p, -1, "checkpoint of size %d under the name of size %d", c.N, n)
			continue
		}
		v.cps[n] = c
		v.cpBytes[string(v.files[p])] = n
		v.rep.Checkpoints = append(v.rep.Checkpoints, n)
	}
	slices.Sort(v.rep.Checkpoints)
	final, ok := v.cps[m.TreeSize]
	if !ok {
		v.fail(checkpointFile(m.TreeSize), -1, "the manifest's final checkpoint (size %d) is missing or doesn't verify", m.TreeSize)
	} else {
		v.rep.Root = final.Hash.String()
		if m.Checkpoint != checkpointFile(m.TreeSize) {
			v.fail(ManifestFile, -1, "checkpoint %q, want %q", m.Checkpoint, checkpointFile(m.TreeSize))
		}
	}
	if n := len(v.rep.Checkpoints); n > 0 && v.rep.Checkpoints[n-1] != m.TreeSize {
		v.fail(checkpointFile(v.rep.Checkpoints[n-1]), -1, "larger than the manifest's final tree size %d", m.TreeSize)
	}
	for i := 1; i < len(v.rep.Checkpoints); i++ {
		a, b := v.cps[v.rep.Checkpoints[i-1]], v.cps[v.rep.Checkpoints[i]]
		p := consistencyFile(a.N, b.N)
		raw, ok := v.get(p)
		if !ok {
			v.fail(p, -1, "missing: nothing shows the tree of size %d is a prefix of the tree of size %d", a.N, b.N)
			continue
		}
		proof, err := parseHashes(raw)
		if err != nil {
			v.fail(p, -1, "%v", err)
			continue
		}
		if err := tlog.CheckTree(proof, b.N, b.Hash, a.N, a.Hash); err != nil {
			v.fail(p, -1, "consistency proof from tree %d to tree %d doesn't verify: %v", a.N, b.N, err)
		}
	}
	for _, p := range v.files.Paths() {
		if strings.HasPrefix(p, "log/consistency/") && !v.used[p] {
			v.used[p] = true
			v.warn("%s is not between two consecutive checkpoints of the bundle and was not checked", p)
		}
	}
	if len(v.rep.Problems) == bad {
		v.rep.Checks = append(v.rep.Checks, fmt.Sprintf("checkpoints: %d signed by %s (sizes %s), each consistent with the next", len(v.rep.Checkpoints), v.origin, joinInts(v.rep.Checkpoints)))
	}
}

func joinInts(l []int64) string {
	s := make([]string, len(l))
	for i, n := range l {
		s[i] = strconv.FormatInt(n, 10)
	}
	if len(s) > 12 {
		s = append(s[:5], "…", s[len(s)-1])
	}
	return strings.Join(s, ", ")
}

// parseHashes reads one base64 SHA-256 hash per line.
func parseHashes(b []byte) ([]tlog.Hash, error) {
	var out []tlog.Hash
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil, nil
	}
	for n, l := range strings.Split(s, "\n") {
		h, err := tlog.ParseHash(l)
		if err != nil || h.String() != l {
			return nil, fmt.Errorf("line %d: %q is not a base64 SHA-256 hash", n+1, l)
		}
		out = append(out, h)
		if len(out) > 128 {
			return nil, fmt.Errorf("more than 128 hashes")
		}
	}
	return out, nil
}

func (v *verifier) entries() {
	ib, ok := v.get(IndexFile)
	if !ok {
		v.fail(IndexFile, -1, "missing")
		return
	}
	var idx []IndexEntry
	dec := json.NewDecoder(bytes.NewReader(ib))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&idx); err != nil {
		v.fail(IndexFile, -1, "malformed: %v", err)
		return
	}
	bad := len(v.rep.Problems)
	seen := map[int64]bool{}
	erasedBy := map[int64]int64{}
	var erased int
	for _, e := range idx {
		i := e.Index
		if i < 0 || seen[i] {
			v.fail(IndexFile, i, "index listed twice or negative")
			continue
		}
		seen[i] = true
		hb, ok := v.get(entryFile(i, headerName))
		if !ok {
			v.fail(entryFile(i, headerName), i, "missing")
			continue
		}
		h, err := evidence.DecodeHeader(hb)
		if err != nil {
			v.fail(entryFile(i, headerName), i, "%v", err)
			continue
		}
		leaf := evidence.LeafHash(hb)
		if leaf.String() != e.LeafHash {
			v.fail(entryFile(i, headerName), i, "leaf hash is %s, entries/index.json says %s", leaf, e.LeafHash)
		}
		if h.Kind != e.Kind || h.Time != e.Time || h.Actor != e.Actor || h.Incident != e.Incident {
			v.fail(IndexFile, i, "kind, time, actor or incident differ from the header's")
		}
		if e.Why == "incident" && h.Incident != v.rep.Incident {
			v.fail(entryFile(i, headerName), i, "listed as an entry of incident %s, but its header names %q", v.rep.Incident, h.Incident)
		}
		v.headers[i] = h
		v.leaves[i] = leaf
		st := EntryStatus{Index: i, Kind: h.Kind, Time: h.Time, Actor: h.Actor, LeafHash: leaf.String(), Erased: e.Erased}
		v.proof(i, hb)
		pb, hasPayload := v.get(entryFile(i, payloadName))
		salt, hasSalt := v.get(entryFile(i, saltName))
		switch {
		case hasPayload && hasSalt:
			if c := evidence.Commit(salt, pb); c != h.Commitment {
				v.fail(entryFile(i, payloadName), i, "payload doesn't match the header's commitment: SHA-256(salt ‖ payload) is %s, the header says %s", c, h.Commitment)
			} else {
				v.payload[i] = pb
			}
			if e.Erased {
				v.fail(IndexFile, i, "marked erased, but its payload is in the bundle")
			}
		case hasPayload != hasSalt:
			v.fail(entryFile(i, payloadName), i, "payload and salt must come together (payload %v, salt %v)", hasPayload, hasSalt)
		case !e.Erased || e.ErasedBy == nil:
			v.fail(entryFile(i, payloadName), i, "payload missing, and no erasure entry accounts for it")
		default:
			erasedBy[i] = *e.ErasedBy
			erased++
		}
		v.rep.Entries = append(v.rep.Entries, st)
	}
	// Erasures: each erased payload's erasure entry must be in the bundle,
	// later, of kind erasure, naming it.
	for i, j := range erasedBy {
		eh, ok := v.headers[j]
		var req evidence.ErasureRequest
		switch {
		case !ok:
			v.fail(IndexFile, i, "erased by entry %d, which is not in the bundle", j)
		case eh.Kind != evidence.ErasureKind:
			v.fail(IndexFile, i, "erased by entry %d, which is a %q entry, not an erasure", j, eh.Kind)
		case j <= i:
			v.fail(IndexFile, i, "erased by entry %d, which comes before it", j)
		case v.payload[j] == nil:
			v.fail(entryFile(j, payloadName), j, "the erasure entry's payload is missing")
		case json.Unmarshal(v.payload[j], &req) != nil || req.Index != i:
			v.fail(entryFile(j, payloadName), j, "the erasure entry doesn't name entry %d", i)
		default:
			v.rep.Erasures = append(v.rep.Erasures, Erasure{Index: i, By: j, At: eh.Time, Actor: eh.Actor, Reason: req.Reason})
		}
	}
	slices.SortFunc(v.rep.Erasures, func(a, b Erasure) int { return int(a.Index - b.Index) })
	for j, h := range v.headers {
		if h.Kind != evidence.ErasureKind || v.payload[j] == nil {
			continue
		}
		var req evidence.ErasureRequest
		if json.Unmarshal(v.payload[j], &req) == nil && seen[req.Index] && v.payload[req.Index] != nil {
			v.warn("entry %d: erasure entry %d erased it, yet its payload is in the bundle (the erasure was not completed when the bundle was made)", req.Index, j)
		}
	}
	slices.SortFunc(v.rep.Entries, func(a, b EntryStatus) int { return int(a.Index - b.Index) })
	for _, p := range v.files.Paths() {
		if strings.HasPrefix(p, "entries/") && !v.used[p] {
			v.used[p] = true
			v.fail(p, -1, "not an entry listed in entries/index.json")
		}
	}
	if len(v.rep.Problems) == bad {
		v.rep.Checks = append(v.rep.Checks,
			fmt.Sprintf("entries: %d headers canonical, each leaf hash proven in the signed tree of size %d (C2SP tlog-proof)", len(idx), v.rep.TreeSize),
			payloadCheck(len(idx)-erased, erased))
	}
}

// proof checks entry i's tlog-proof against a checkpoint of the bundle.
func (v *verifier) proof(i int64, header []byte) {
	p := entryFile(i, proofName)
	raw, ok := v.get(p)
	if !ok {
		v.fail(p, i, "missing")
		return
	}
	tp, err := evidence.ParseTlogProof(raw)
	if err != nil {
		v.fail(p, i, "%v", err)
		return
	}
	if tp.Index != i {
		v.fail(p, i, "proves index %d", tp.Index)
		return
	}
	n, ok := v.cpBytes[string(tp.Checkpoint)]
	if !ok {
		// Not one of the bundle's checkpoints: check it on its own.
		if _, err := evidence.VerifyTlogProof(tp, header, v.origin, v.key); err != nil {
			v.fail(p, i, "%v", err)
		} else {
			v.fail(p, i, "its checkpoint is not one of the bundle's checkpoints")
		}
		return
	}
	c := v.cps[n]
	if i >= c.N {
		v.fail(p, i, "index %d is not in the checkpoint's tree of size %d", i, c.N)
		return
	}
	if err := tlog.CheckRecord(tp.Proof, c.N, c.Hash, i, evidence.LeafHash(header)); err != nil {
		v.fail(p, i, "inclusion proof in the tree of size %d doesn't verify: %v", c.N, err)
	}
}

func (v *verifier) anchors() {
	var pinned *x509.CertPool
	if len(v.opts.TSARoots) > 0 {
		var err error
		if pinned, err = tsa.PoolFromPEM(v.opts.TSARoots); err != nil {
			v.fail("--tsa-ca", -1, "%v", err)
			return
		}
	}
	dirs := map[string]bool{}
	for _, p := range v.files.Paths() {
		if rest, ok := strings.CutPrefix(p, "anchors/"); ok {
			d, _, _ := strings.Cut(rest, "/")
			dirs["anchors/"+d] = true
		}
	}
	bad := len(v.rep.Problems)
	fromBundle := false
	for _, d := range sortedKeys(dirs) {
		st := AnchorStatus{Dir: d}
		ib, ok := v.get(d + "/anchor.json")
		if !ok {
			v.fail(d+"/anchor.json", -1, "missing")
			continue
		}
		var ai AnchorInfo
		dec := json.NewDecoder(bytes.NewReader(ib))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ai); err != nil {
			v.fail(d+"/anchor.json", -1, "malformed: %v", err)
			continue
		}
		st.Authority, st.TreeSize = ai.Authority, ai.TreeSize
		tok, ok := v.get(d + "/token.tsr")
		if !ok {
			v.fail(d+"/token.tsr", -1, "missing")
			continue
		}
		cpb, ok := v.files[checkpointFile(ai.TreeSize)]
		if _, valid := v.cps[ai.TreeSize]; !ok || !valid || ai.Checkpoint != checkpointFile(ai.TreeSize) {
			v.fail(d+"/anchor.json", -1, "stamps the checkpoint of size %d, which is not a valid checkpoint of the bundle", ai.TreeSize)
			continue
		}
		roots := pinned
		caPEM, hasCA := v.get(d + "/ca.pem")
		if roots == nil {
			if !hasCA {
				v.fail(d+"/ca.pem", -1, "missing, and no root was pinned with --tsa-ca")
				continue
			}
			var err error
			if roots, err = tsa.PoolFromPEM(caPEM); err != nil {
				v.fail(d+"/ca.pem", -1, "%v", err)
				continue
			}
			fromBundle = true
		}
		var inter []*x509.Certificate
		if b, ok := v.get(d + "/tsa.pem"); ok {
			cs, err := tsa.ParsePEMCerts(b)
			if err != nil {
				v.fail(d+"/tsa.pem", -1, "%v", err)
				continue
			}
			inter = cs
		}
		t, err := tsa.Verify(tok, tsa.VerifyOptions{Data: cpb, Roots: roots, Intermediates: inter})
		if err != nil {
			v.fail(d+"/token.tsr", -1, "%v (against %s)", err, checkpointFile(ai.TreeSize))
			v.rep.Anchors = append(v.rep.Anchors, st)
			continue
		}
		st.Time, st.Serial, st.Signer, st.ESSCertIDv2, st.Qualified, st.OK = t.Time.UTC(), t.Serial.Text(16), t.Signer.Subject.CommonName, t.ESSCertIDv2, t.Qualified, true
		if gt, err := time.Parse(time.RFC3339Nano, ai.GenTime); err != nil || !gt.Equal(t.Time) {
			v.fail(d+"/anchor.json", -1, "gen_time %q differs from the token's %s", ai.GenTime, t.Time.UTC().Format(time.RFC3339Nano))
		}
		if ai.TokenSHA256 != sha256Hex(tok) {
			v.fail(d+"/anchor.json", -1, "token_sha256 is not the token's SHA-256")
		}
		if ai.LogIndex >= 0 {
			if pb, ok := v.payload[ai.LogIndex]; ok {
				var ap tsa.AnchorPayload
				if json.Unmarshal(pb, &ap) != nil || ap.TokenSHA256 != sha256Hex(tok) || ap.CheckpointSHA256 != sha256Hex(cpb) || ap.TreeSize != ai.TreeSize {
					v.fail(entryFile(ai.LogIndex, payloadName), ai.LogIndex, "the anchor entry doesn't log this token (%s) of this checkpoint", d+"/token.tsr")
				}
			}
		}
		// An entry's logged time later than a stamp of a tree holding it
		// means the server's clock was ahead.
		for _, e := range v.rep.Entries {
			if e.Index < ai.TreeSize {
				if et, err := time.Parse(evidence.TimeFormat, e.Time); err == nil && et.After(t.Time.Add(time.Minute)) {
					v.warn("entry %d: logged at %s, later than the time-stamp %s of a tree holding it: the server's clock was ahead", e.Index, e.Time, t.Time.UTC().Format(time.RFC3339))
				}
			}
		}
		v.rep.Anchors = append(v.rep.Anchors, st)
	}
	// Earliest verified anchor of each entry.
	for k := range v.rep.Entries {
		e := &v.rep.Entries[k]
		for _, a := range v.rep.Anchors {
			if a.OK && e.Index < a.TreeSize && (e.AnchorTime.IsZero() || a.Time.Before(e.AnchorTime)) {
				e.AnchorTime, e.AnchorAuthority = a.Time, a.Authority
			}
		}
	}
	if len(v.rep.Problems) == bad && len(v.rep.Anchors) > 0 {
		var names []string
		for _, a := range v.rep.Anchors {
			v2 := "ESSCertID"
			if a.ESSCertIDv2 {
				v2 = "ESSCertIDv2"
			}
			names = append(names, fmt.Sprintf("%s stamped tree %d at %s (%s, %s)", a.Authority, a.TreeSize, a.Time.Format(time.RFC3339), a.Signer, v2))
		}
		v.rep.Checks = append(v.rep.Checks, fmt.Sprintf("time-stamps: %d RFC 3161 token(s) verify against the checkpoints they stamp: %s", len(v.rep.Anchors), strings.Join(names, "; ")))
	}
	if len(v.rep.Anchors) == 0 {
		v.warn("no RFC 3161 time-stamp: the times in the entries rest on the server's clock alone")
	}
	if fromBundle {
		v.warn("the time-stamping authorities' roots were taken from the bundle (anchors/*/ca.pem); check them against the authority's published roots (the EU Trusted List for a qualified provider) or pin them with --tsa-ca")
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (v *verifier) packs() {
	pb, ok := v.get(PacksFile)
	if !ok {
		v.fail(PacksFile, -1, "missing")
		return
	}
	var packs []PackInfo
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&packs); err != nil {
		v.fail(PacksFile, -1, "malformed: %v", err)
		return
	}
	bad := len(v.rep.Problems)
	listed := map[string]bool{}
	withFiles := 0
	for _, p := range packs {
		listed[p.Digest] = true
		if p.Dir == "" {
			v.warn("rule pack %s (%s %s) is not in the bundle: the exporter did not have its files", p.Digest, p.Name, p.Version)
			continue
		}
		mfs := fstest.MapFS{}
		for _, path := range v.files.Paths() {
			if rel, ok := strings.CutPrefix(path, p.Dir+"/"); ok {
				v.used[path] = true
				mfs[rel] = &fstest.MapFile{Data: v.files[path], Mode: 0o644}
			}
		}
		digest, err := packDigest(mfs)
		if err != nil {
			v.fail(p.Dir, -1, "rule pack doesn't load: %v", err)
			continue
		}
		if digest != p.Digest {
			v.fail(p.Dir, -1, "rule pack digest is %s, packs/index.json says %s", digest, p.Digest)
			continue
		}
		withFiles++
	}
	// Every decision in the bundle names its pack.
	for i, h := range v.headers {
		if h.Kind != "decision" || v.payload[i] == nil {
			continue
		}
		var d struct {
			Decision struct {
				Policy guard.Policy `json:"policy"`
			} `json:"decision"`
		}
		if json.Unmarshal(v.payload[i], &d) == nil && d.Decision.Policy.Digest != "" && !listed[d.Decision.Policy.Digest] {
			v.fail(PacksFile, i, "decision entry %d was made by rule pack %s, which is not listed", i, d.Decision.Policy.Digest)
		}
	}
	for _, p := range v.files.Paths() {
		if strings.HasPrefix(p, "packs/") && !v.used[p] {
			v.used[p] = true
			v.fail(p, -1, "not in a rule pack listed in packs/index.json")
		}
	}
	v.rep.Packs = packs
	if len(v.rep.Problems) == bad && len(packs) > 0 {
		v.rep.Checks = append(v.rep.Checks, fmt.Sprintf("rule packs: %d named by the decisions, %d with their files, whose digest matches", len(packs), withFiles))
	}
}

// evidenceFiles checks that each evidence/files/<sha256> has that SHA-256
// and that a logged entry of the bundle names it: the sha256 of an
// evidence.acquired entry or of an evidence.custody step. A file named by
// no entry could be anything the bundle's holder put there.
func (v *verifier) evidenceFiles() {
	logged := map[string]int64{}
	for i, h := range v.headers {
		if h.Kind != incident.KindAcquired && h.Kind != incident.KindCustody || v.payload[i] == nil {
			continue
		}
		var p struct {
			SHA256 string `json:"sha256"`
		}
		if json.Unmarshal(v.payload[i], &p) == nil && p.SHA256 != "" {
			logged[p.SHA256] = i
		}
	}
	n := 0
	bad := len(v.rep.Problems)
	for _, p := range v.files.Paths() {
		name, ok := strings.CutPrefix(p, "evidence/files/")
		if !ok {
			continue
		}
		v.used[p] = true
		if got := sha256Hex(v.files[p]); got != name {
			v.fail(p, -1, "evidence file's SHA-256 is %s, not its name", got)
			continue
		}
		if _, ok := logged[name]; !ok {
			v.fail(p, -1, "no logged entry of the bundle (%s or %s) names this SHA-256: nothing shows it is the incident's evidence", incident.KindAcquired, incident.KindCustody)
			continue
		}
		n++
	}
	if n > 0 && len(v.rep.Problems) == bad {
		v.rep.Checks = append(v.rep.Checks, fmt.Sprintf("evidence files: %d, each named by its SHA-256, which a logged %s or %s entry of the bundle records", n, incident.KindAcquired, incident.KindCustody))
	}
}

// exports lists the bundle's bundle.exported entries whose payload it
// holds (verified against their headers by entries).
func (v *verifier) exports() {
	v.rep.Exports = []ExportRecord{}
	for _, e := range v.rep.Entries {
		pb := v.payload[e.Index]
		if e.Kind != ExportedKind || pb == nil {
			continue
		}
		var p ExportedPayload
		if json.Unmarshal(pb, &p) != nil {
			continue
		}
		v.rep.Exports = append(v.rep.Exports, ExportRecord{Index: e.Index, Time: e.Time, Actor: e.Actor, ManifestSHA256: p.ManifestSHA256, TreeSize: p.TreeSize})
	}
}

// packDigest loads a rule pack and returns its digest.
func packDigest(fsys fs.FS) (d string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	e, err := guard.Load(fsys)
	if err != nil {
		return "", err
	}
	return e.Policy().Digest, nil
}

func payloadCheck(kept, erased int) string {
	if erased == 0 {
		return fmt.Sprintf("payloads: %d match their headers' commitments; none erased", kept)
	}
	return fmt.Sprintf("payloads: %d match their headers' commitments; %d erased, each by a logged erasure entry in the bundle that names it", kept, erased)
}

// allHeaders checks log/headers/ when present: the headers' tree is the
// final checkpoint's, the bundle's entries are among them, and every
// header naming the incident is one of the bundle's entries.
func (v *verifier) allHeaders() {
	var starts []int64
	for _, p := range v.files.Paths() {
		s, ok := strings.CutPrefix(p, "log/headers/")
		if !ok {
			continue
		}
		v.used[p] = true
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != s {
			v.fail(p, -1, "not named by the index of its first header")
			continue
		}
		starts = append(starts, n)
	}
	if len(starts) == 0 {
		return
	}
	slices.Sort(starts)
	final, ok := v.cps[v.rep.TreeSize]
	if !ok {
		return
	}
	bad := len(v.rep.Problems)
	leaves := make([]tlog.Hash, 0, v.rep.TreeSize)
	naming := 0
	for _, start := range starts {
		p := headersFile(start)
		if start != int64(len(leaves)) {
			v.fail(p, -1, "starts at %d, but the headers before it end at %d", start, len(leaves))
			return
		}
		hs, err := evidence.SplitEntryBundle(v.files[p])
		if err != nil {
			v.fail(p, -1, "%v", err)
			return
		}
		for k, hb := range hs {
			i := start + int64(k)
			leaf := evidence.LeafHash(hb)
			leaves = append(leaves, leaf)
			if want, ok := v.leaves[i]; ok && want != leaf {
				v.fail(p, i, "header differs from entries/%d/header", i)
			}
			h, err := evidence.DecodeHeader(hb)
			if err != nil {
				v.fail(p, i, "%v", err)
				continue
			}
			if h.Incident == v.rep.Incident {
				naming++
				if _, ok := v.leaves[i]; !ok {
					v.fail(p, i, "entry %d names incident %s but is not in the bundle's entries", i, v.rep.Incident)
				}
			}
		}
	}
	if int64(len(leaves)) != v.rep.TreeSize {
		v.fail("log/headers/", -1, "%d headers, the final tree has %d", len(leaves), v.rep.TreeSize)
		return
	}
	if root := merkleRoot(leaves); root != final.Hash {
		v.fail("log/headers/", -1, "the headers' tree has root %s, the final checkpoint says %s", root, final.Hash)
		return
	}
	if len(v.rep.Problems) == bad {
		v.rep.Complete = true
		v.rep.Checks = append(v.rep.Checks, fmt.Sprintf("completeness: the bundle holds all %d headers of the log, whose tree is the signed one; all %d entries naming the incident are in the bundle", len(leaves), naming))
	}
}

// merkleRoot is the RFC 6962 root of leaf hashes (at least one).
func merkleRoot(l []tlog.Hash) tlog.Hash {
	if len(l) == 1 {
		return l[0]
	}
	k := 1
	for k*2 < len(l) {
		k *= 2
	}
	return tlog.NodeHash(merkleRoot(l[:k]), merkleRoot(l[k:]))
}

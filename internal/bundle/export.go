package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/store"
	"github.com/vallum/vallum/internal/tsa"
)

// Desk is what Export reads from the incident desk; *incident.Desk has
// it. Every method returns incident.ErrNotFound for an unknown incident.
type Desk interface {
	GetIncident(ctx context.Context, id string) (incident.Incident, error)
	Timeline(ctx context.Context, id string) ([]incident.TimelineItem, error)
	ListActions(ctx context.Context, id string) ([]incident.Action, error)
	Clocks(ctx context.Context, id string) ([]incident.Clock, error)
	Events(ctx context.Context, id string) ([]incident.LinkedEvent, error)
	ListEvidence(ctx context.Context, id string) ([]string, error)
	GetEvidence(ctx context.Context, id string) (incident.EvidenceItem, error)
	RansomTrack(ctx context.Context, id string) (incident.RansomTrack, error)
}

var _ Desk = (*incident.Desk)(nil)

// FileSource gives the content of evidence files by SHA-256 (lowercase
// hex). Open returns an error wrapping fs.ErrNotExist when it doesn't hold
// the file.
type FileSource interface {
	Open(sha256 string) (io.ReadCloser, error)
}

// Deps are what Export reads. Log, DB and Desk are required.
type Deps struct {
	Log  *evidence.Log
	DB   *store.DB
	Desk Desk
	// Anchors holds the RFC 3161 tokens; nil for none.
	Anchors *tsa.Store
	// VKey is the log's verifier key (signed-note form).
	VKey string
	// Packs are the rule pack files the server holds (its embedded pack,
	// or its policy directory); decisions made by a pack with the same
	// digest get its files in the bundle.
	Packs fs.FS
	// Files gives evidence files for Options.WithFiles; nil: the desk
	// stores only hashes, and the bundle says so.
	Files FileSource
	// Version is Vallum's version written in the manifest (default: the
	// binary's module version).
	Version string
	// Clock gives the creation time (time.Now if nil).
	Clock  func() time.Time
	Logger *slog.Logger
}

// Options shape one bundle.
type Options struct {
	// Langs are the report languages, "it" and/or "en" (default both).
	Langs []string
	// WithFiles adds the evidence files whose SHA-256 the items record.
	WithFiles bool
	// PDF renders the report to PDF with headless Chromium when it is
	// installed (Chromium: its path, or looked up in PATH).
	PDF      bool
	Chromium string
	// AllHeaders adds every header of the log up to the bundle's tree
	// (log/headers/, no payloads), so that the verifier can prove that no
	// entry naming the incident was left out. About 200 bytes an entry.
	AllHeaders bool
}

// ErrNotFound is wrapped when the incident doesn't exist.
var ErrNotFound = incident.ErrNotFound

// ErrOptions is wrapped by errors in Options (an unknown language).
var ErrOptions = errors.New("bad bundle options")

// FileName is the name of incident id's bundle as a download:
// vallum-bundle-ID.tar.gz, with every character of the ID other than
// ASCII letters, digits, '-' and '_' replaced by '_'.
func FileName(id string) string {
	return "vallum-bundle-" + strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, id) + ".tar.gz"
}

// Export writes incident id's bundle to w as a .tar.gz. The bundle is
// verified with the log's own key before the report is rendered and
// anything is written; a bundle that doesn't verify is an error.
//
// It reads the log, the database and the desk only; it is safe to call
// while the server runs (the bundle covers the log up to the latest
// checkpoint the database has indexed).
func Export(ctx context.Context, deps Deps, id string, opts Options, w io.Writer) (*Report, error) {
	files, rep, err := Build(ctx, deps, id, opts)
	if err != nil {
		return rep, err
	}
	created, _ := time.Parse(time.RFC3339, mustManifest(files).Created)
	return rep, WriteTarGz(w, files, created)
}

func mustManifest(files Files) Manifest {
	m, _ := ParseManifest(files[ManifestFile])
	return m
}

// Build makes incident id's bundle in memory (for a directory, WriteDir).
func Build(ctx context.Context, deps Deps, id string, opts Options) (Files, *Report, error) {
	if deps.Log == nil || deps.DB == nil || deps.Desk == nil {
		return nil, nil, errors.New("bundle: export needs the log, the database and the incident desk")
	}
	if len(opts.Langs) == 0 {
		opts.Langs = []string{"it", "en"}
	}
	for _, l := range opts.Langs {
		if _, ok := dict[l]; !ok {
			return nil, nil, fmt.Errorf("%w: report language %q: want it or en", ErrOptions, l)
		}
	}
	clock := deps.Clock
	if clock == nil {
		clock = time.Now
	}
	created := clock().UTC().Truncate(time.Second)
	inc, err := deps.Desk.GetIncident(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	size, cp, err := deps.DB.Head(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't read the indexed checkpoint: %w", err)
	}
	if cp == nil || size == 0 {
		cp, size = deps.Log.Latest()
	}
	if size == 0 {
		return nil, nil, errors.New("the evidence log is empty")
	}
	b := &builder{deps: deps, id: id, size: size, files: Files{}, why: map[int64]string{}}
	if err := b.selectEntries(ctx); err != nil {
		return nil, nil, err
	}
	if err := b.writeEntries(ctx, cp); err != nil {
		return nil, nil, err
	}
	if err := b.writeLog(cp); err != nil {
		return nil, nil, err
	}
	if opts.AllHeaders {
		if err := b.writeAllHeaders(ctx); err != nil {
			return nil, nil, err
		}
	}
	if err := b.writePacks(); err != nil {
		return nil, nil, err
	}
	items, missing, err := b.writeEvidence(ctx, opts.WithFiles)
	if err != nil {
		return nil, nil, err
	}
	b.files[VKeyFile] = []byte(strings.TrimSpace(deps.VKey) + "\n")
	version := deps.Version
	if version == "" {
		version = binaryVersion()
	}
	m := Manifest{Format: Format, Vallum: version, Origin: deps.Log.Origin(), Incident: id, Created: created.Format(time.RFC3339), TreeSize: size, Checkpoint: checkpointFile(size)}
	if err := b.writeVerifyMD(m, opts); err != nil {
		return nil, nil, err
	}
	// Verify what was gathered before writing the report: a bundle that
	// doesn't verify is never shipped.
	b.files[ManifestFile], _ = json.Marshal(m)
	rep := Verify(b.files, VerifyOptions{VKey: deps.VKey, skipManifest: true})
	delete(b.files, ManifestFile)
	if !rep.OK() {
		return nil, rep, fmt.Errorf("the bundle doesn't verify; nothing was written:\n%s", rep)
	}
	data, err := b.reportData(ctx, inc, rep, items, missing, created, m)
	if err != nil {
		return nil, nil, err
	}
	for _, lang := range opts.Langs {
		html, err := RenderHTML(data, lang)
		if err != nil {
			return nil, nil, err
		}
		b.files["report/report."+lang+".html"] = html
		if opts.PDF {
			pdf, err := RenderPDF(ctx, html, opts.Chromium)
			if err != nil {
				if errors.Is(err, ErrNoChromium) {
					b.logger().Info("no PDF report: Chromium is not installed", "hint", "install chromium, or open report/report."+lang+".html in a browser and print it")
				} else {
					return nil, nil, err
				}
			} else {
				b.files["report/report."+lang+".pdf"] = pdf
			}
		}
	}
	seal(b.files, m)
	return b.files, rep, nil
}

func binaryVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

type builder struct {
	deps    Deps
	id      string
	size    int64
	files   Files
	why     map[int64]string
	erasers map[int64]int64 // target -> erasure entry
	anchors []tsa.Anchor
	entries map[int64]evidence.Entry
	// erased are the selected entries whose payload is erased: what the
	// desk's tables may still show of them (until a rebuild) is left out.
	erased map[int64]bool
}

func (b *builder) logger() *slog.Logger {
	if b.deps.Logger == nil {
		return slog.Default()
	}
	return b.deps.Logger
}

func (b *builder) add(i int64, why string) {
	if i >= 0 && i < b.size {
		if _, ok := b.why[i]; !ok {
			b.why[i] = why
		}
	}
}

// selectEntries finds the incident's entries and those its actions depend
// on: every entry whose header names the incident, the events linked to
// it, the sanctions screenings its ransom track links, the decisions and
// approvals its actions' entries name, the erasures of any of these, and
// the entries that logged the exported time-stamps.
func (b *builder) selectEntries(ctx context.Context) error {
	for after := int64(-1); ; {
		es, err := b.deps.DB.Entries(ctx, b.id, after, 10000)
		if err != nil {
			return fmt.Errorf("couldn't list the incident's entries: %w", err)
		}
		for _, e := range es {
			b.add(e.Index, "incident")
		}
		if len(es) < 10000 {
			break
		}
		after = es[len(es)-1].Index
	}
	evs, err := b.deps.Desk.Events(ctx, b.id)
	if err != nil {
		return err
	}
	for _, e := range evs {
		b.add(e.Index, "linked event")
	}
	tr, err := b.deps.Desk.RansomTrack(ctx, b.id)
	if err != nil {
		return err
	}
	for _, s := range tr.Screenings {
		b.add(s.Screening, "sanctions screening")
	}
	b.entries = map[int64]evidence.Entry{}
	// Receipts named in the desk's payloads.
	for _, i := range b.sorted() {
		e, err := b.entry(i)
		if err != nil {
			return err
		}
		h, _ := evidence.DecodeHeader(e.Header)
		if e.Erased {
			continue
		}
		switch h.Kind {
		case incident.KindDecided, incident.KindRechecked:
			var p struct {
				Decision incident.Receipt `json:"decision"`
			}
			if json.Unmarshal(e.Payload, &p) == nil {
				b.add(p.Decision.Index, "decision")
			}
		case incident.KindExecuting:
			var p struct {
				Permit incident.Permit `json:"permit"`
			}
			if json.Unmarshal(e.Payload, &p) == nil {
				b.add(p.Permit.Decision.Index, "permit")
				for _, a := range p.Permit.Approvals {
					b.add(a.Index, "approval")
				}
			}
		}
	}
	// Erasures of any selected entry.
	b.erasers = map[int64]int64{}
	rows, err := b.deps.DB.SQL().QueryContext(ctx, `SELECT target, by_idx FROM log_erasures`)
	if err != nil {
		return fmt.Errorf("couldn't read the erasures: %w", err)
	}
	for rows.Next() {
		var t, by int64
		if err := rows.Scan(&t, &by); err != nil {
			rows.Close()
			return err
		}
		b.erasers[t] = by
	}
	rows.Close()
	for _, i := range b.sorted() {
		if by, ok := b.erasers[i]; ok {
			b.add(by, "erasure")
		}
	}
	if b.deps.Anchors != nil {
		as, err := b.deps.Anchors.Covering(ctx, b.sorted())
		if err != nil {
			return fmt.Errorf("couldn't read the time-stamps: %w", err)
		}
		for _, a := range as {
			if a.TreeSize <= b.size {
				b.anchors = append(b.anchors, a)
				b.add(a.LogIndex, "time-stamp")
			}
		}
		slices.SortFunc(b.anchors, func(x, y tsa.Anchor) int { return int(x.ID - y.ID) })
	}
	return nil
}

func (b *builder) sorted() []int64 {
	out := make([]int64, 0, len(b.why))
	for i := range b.why {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func (b *builder) entry(i int64) (evidence.Entry, error) {
	if e, ok := b.entries[i]; ok {
		return e, nil
	}
	e, err := b.deps.Log.Entry(i)
	if err != nil {
		return e, fmt.Errorf("couldn't read entry %d: %w", i, err)
	}
	b.entries[i] = e
	return e, nil
}

func (b *builder) writeEntries(ctx context.Context, cp []byte) error {
	var idx []IndexEntry
	b.erased = map[int64]bool{}
	for _, i := range b.sorted() {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := b.entry(i)
		if err != nil {
			return err
		}
		h, err := evidence.DecodeHeader(e.Header)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		ie := IndexEntry{Index: i, Kind: h.Kind, Time: h.Time, Actor: h.Actor, Incident: h.Incident, LeafHash: evidence.LeafHash(e.Header).String(), Why: b.why[i]}
		b.files[entryFile(i, headerName)] = e.Header
		if e.Erased {
			b.erased[i] = true
			ie.Erased = true
			if by, ok := b.erasers[i]; ok {
				ie.ErasedBy = &by
			}
		} else {
			b.files[entryFile(i, payloadName)] = e.Payload
			b.files[entryFile(i, saltName)] = e.Salt
		}
		proof, _, err := b.deps.Log.InclusionProof(i, b.size)
		if err != nil {
			return err
		}
		b.files[entryFile(i, proofName)] = evidence.FormatTlogProof(evidence.TlogProof{Index: i, Proof: proof, Checkpoint: cp})
		idx = append(idx, ie)
		delete(b.entries, i)
	}
	var err error
	b.files[IndexFile], err = json.MarshalIndent(idx, "", "  ")
	return err
}

// writeLog writes the checkpoints (the final one and every anchored one),
// the consistency proofs between consecutive ones, and the anchors.
func (b *builder) writeLog(final []byte) error {
	sizes := []int64{b.size}
	b.files[checkpointFile(b.size)] = final
	for _, a := range b.anchors {
		if _, ok := b.files[checkpointFile(a.TreeSize)]; !ok {
			b.files[checkpointFile(a.TreeSize)] = a.Checkpoint
			sizes = append(sizes, a.TreeSize)
		}
	}
	slices.Sort(sizes)
	for k := 1; k < len(sizes); k++ {
		p, err := b.deps.Log.ConsistencyProof(sizes[k-1], sizes[k])
		if err != nil {
			return err
		}
		var s strings.Builder
		for _, h := range p {
			s.WriteString(h.String() + "\n")
		}
		b.files[consistencyFile(sizes[k-1], sizes[k])] = []byte(s.String())
	}
	for k, a := range b.anchors {
		d := fmt.Sprintf("anchors/%03d", k+1)
		b.files[d+"/token.tsr"] = a.Token
		b.files[d+"/ca.pem"] = a.RootsPEM
		if pool, err := tsa.PoolFromPEM(a.RootsPEM); err == nil {
			if t, err := tsa.Verify(a.Token, tsa.VerifyOptions{Data: a.Checkpoint, Roots: pool}); err == nil && len(t.Chain) > 1 {
				b.files[d+"/tsa.pem"] = tsa.EncodePEM(t.Chain[:len(t.Chain)-1])
			}
		}
		ai, _ := json.MarshalIndent(AnchorInfo{TreeSize: a.TreeSize, Checkpoint: checkpointFile(a.TreeSize), Authority: a.Authority, URL: a.URL,
			GenTime: a.Time.UTC().Format(time.RFC3339Nano), Serial: a.Serial, Hash: a.Hash, TokenSHA256: a.TokenSHA256, LogIndex: a.LogIndex, Reason: a.Reason}, "", "  ")
		b.files[d+"/anchor.json"] = ai
	}
	return nil
}

func (b *builder) writePacks() error {
	byDigest := map[string]*PackInfo{}
	var order []string
	for _, i := range b.sorted() {
		p, ok := b.files[entryFile(i, payloadName)]
		if !ok || b.why[i] == "" {
			continue
		}
		var h evidence.Header
		if h, _ = evidence.DecodeHeader(b.files[entryFile(i, headerName)]); h.Kind != incident.DecisionKind {
			continue
		}
		var d struct {
			Decision guard.Decision `json:"decision"`
		}
		if json.Unmarshal(p, &d) != nil || d.Decision.Policy.Digest == "" {
			continue
		}
		pol := d.Decision.Policy
		pi, ok := byDigest[pol.Digest]
		if !ok {
			pi = &PackInfo{Digest: pol.Digest, Name: pol.Name, Version: pol.Version, Decisions: []int64{}}
			byDigest[pol.Digest] = pi
			order = append(order, pol.Digest)
		}
		pi.Decisions = append(pi.Decisions, i)
	}
	if b.deps.Packs != nil && len(order) > 0 {
		have, err := packDigest(b.deps.Packs)
		if err != nil {
			return fmt.Errorf("the server's rule pack doesn't load: %w", err)
		}
		if pi, ok := byDigest[have]; ok {
			pi.Dir = "packs/" + strings.TrimPrefix(have, "sha256:")
			err := fs.WalkDir(b.deps.Packs, ".", func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				c, err := fs.ReadFile(b.deps.Packs, p)
				if err != nil {
					return err
				}
				b.files[pi.Dir+"/"+p] = c
				return nil
			})
			if err != nil {
				return fmt.Errorf("couldn't copy the rule pack: %w", err)
			}
		}
	}
	list := []PackInfo{}
	for _, d := range order {
		list = append(list, *byDigest[d])
	}
	var err error
	b.files[PacksFile], err = json.MarshalIndent(list, "", "  ")
	return err
}

// writeEvidence writes the items with their chain of custody and, if
// asked, the files the source holds. It returns the items and the hashes
// whose files were asked for but not available.
func (b *builder) writeEvidence(ctx context.Context, withFiles bool) ([]incident.EvidenceItem, []string, error) {
	ids, err := b.deps.Desk.ListEvidence(ctx, b.id)
	if err != nil {
		return nil, nil, err
	}
	items := []incident.EvidenceItem{}
	var missing []string
	for _, id := range ids {
		it, err := b.deps.Desk.GetEvidence(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		b.scrubItem(&it)
		items = append(items, it)
		// An item whose acquisition entry was erased has no logged
		// SHA-256 in the bundle to vouch for its file: leave it out.
		if !withFiles || it.SHA256 == "" || it.Erased {
			continue
		}
		name := "evidence/files/" + it.SHA256
		if _, ok := b.files[name]; ok {
			continue
		}
		if b.deps.Files == nil {
			missing = append(missing, it.SHA256)
			continue
		}
		rc, err := b.deps.Files.Open(it.SHA256)
		if err != nil {
			missing = append(missing, it.SHA256)
			continue
		}
		c, err := io.ReadAll(io.LimitReader(rc, MaxFileSize+1))
		rc.Close()
		if err != nil || len(c) > MaxFileSize || sha256Hex(c) != it.SHA256 {
			missing = append(missing, it.SHA256)
			continue
		}
		b.files[name] = c
	}
	ib, err := json.MarshalIndent(items, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	b.files[ItemsFile] = ib
	return items, missing, nil
}

// scrubItem blanks what an item shows of erased entries.
func (b *builder) scrubItem(it *incident.EvidenceItem) {
	if b.erased[it.AcquiredIndex] {
		it.Erased = true
		it.Source, it.Tool, it.Method, it.MediaType = "", "", "", ""
	}
	for k := range it.Custody {
		if b.erased[it.Custody[k].Index] {
			it.Custody[k].Detail = incident.Custody{Step: it.Custody[k].Step}
		}
	}
}

// scrub blanks, in what the report shows from the desk, the content of
// erased entries: the desk's tables keep it until the next rebuild.
func (b *builder) scrub(d *ReportData) {
	if b.erased[d.Incident.CreatedIndex] {
		d.Incident.Erased = true
		d.Incident.Title, d.Incident.Description = "", ""
	}
	for k := range d.Timeline {
		if b.erased[d.Timeline[k].Index] {
			d.Timeline[k].Erased, d.Timeline[k].Summary = true, ""
		}
	}
	for k := range d.Actions {
		a := &d.Actions[k]
		if b.erased[a.Action.ProposedIndex] {
			a.Action.Erased = true
			a.Action.Request.Action.Target = ""
		}
		if a.Action.Result != nil && b.erased[a.Action.UpdatedIndex] {
			a.Action.Result = &incident.Result{Executor: a.Action.Result.Executor}
		}
		for j := range a.Steps {
			if b.erased[a.Steps[j].Index] {
				a.Steps[j].Erased, a.Steps[j].Summary = true, ""
			}
		}
	}
}

// ExportedKind is the kind of the entry that records an export: a bundle
// leaving the organisation is itself part of the record.
const ExportedKind = "bundle.exported"

// ExportedPayload is the payload of a "bundle.exported" entry.
type ExportedPayload struct {
	Incident       string   `json:"incident"`
	ManifestSHA256 string   `json:"manifest_sha256"`
	TreeSize       int64    `json:"tree_size"`
	Files          int      `json:"files"`
	WithFiles      bool     `json:"with_files"`
	Langs          []string `json:"langs"`
}

// LogExport appends the "bundle.exported" entry of a built bundle: who
// exported which incident, and the manifest's SHA-256 that identifies the
// bundle handed over. Call it before handing the bundle out.
func LogExport(ctx context.Context, l *evidence.Log, actor, id string, files Files, opts Options) (evidence.Receipt, error) {
	m, err := ParseManifest(files[ManifestFile])
	if err != nil {
		return evidence.Receipt{}, err
	}
	langs := opts.Langs
	if len(langs) == 0 {
		langs = []string{"it", "en"}
	}
	p, _ := json.Marshal(ExportedPayload{Incident: id, ManifestSHA256: sha256Hex(files[ManifestFile]), TreeSize: m.TreeSize, Files: len(files), WithFiles: opts.WithFiles, Langs: langs})
	rc, err := l.Append(ctx, evidence.Record{Kind: ExportedKind, Actor: actor, Incident: id, Payload: p})
	if err != nil {
		return rc, fmt.Errorf("couldn't log the export: %w", err)
	}
	return rc, nil
}

// QuarantineFiles is a FileSource over the sensors' quarantines under a
// data directory: files named by their SHA-256 in any directory named
// "quarantine" one or two levels below Root (each honeypot keeps its own).
type QuarantineFiles struct{ Root string }

// Open implements FileSource.
func (q QuarantineFiles) Open(sha string) (io.ReadCloser, error) {
	if len(sha) != 64 || strings.Trim(sha, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("%q is not a SHA-256: %w", sha, fs.ErrNotExist)
	}
	for _, pat := range []string{"*/quarantine", "*/*/quarantine"} {
		dirs, _ := filepath.Glob(filepath.Join(q.Root, pat))
		for _, d := range dirs {
			if f, err := os.Open(filepath.Join(d, sha)); err == nil {
				return f, nil
			}
		}
	}
	return nil, fmt.Errorf("evidence file %s: %w", sha, fs.ErrNotExist)
}

// HeadersChunk is how many headers one log/headers/<start> file holds.
const HeadersChunk = 1 << 16

// writeAllHeaders writes every header of the tree as C2SP entry bundles
// (a big-endian 16-bit length and the header), HeadersChunk a file.
func (b *builder) writeAllHeaders(ctx context.Context) error {
	for start := int64(0); start < b.size; start += HeadersChunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		var chunk []byte
		for i := start; i < min(start+HeadersChunk, b.size); i++ {
			e, err := b.deps.Log.Entry(i)
			if err != nil {
				return fmt.Errorf("couldn't read entry %d: %w", i, err)
			}
			chunk = evidence.AppendEntryBundleEntry(chunk, e.Header)
		}
		b.files[headersFile(start)] = chunk
	}
	return nil
}

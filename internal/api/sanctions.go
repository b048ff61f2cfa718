package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vallum/vallum/internal/atomicfile"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/sanctions"
)

// MaxSanctionsFile is the largest list file an import accepts (per file:
// the OFAC CSV import sends two). The full OFAC advanced XML is about
// 100 MiB.
const MaxSanctionsFile = 256 << 20

// SanctionsDir is the directory, inside the data directory, that holds the
// imported list files.
const SanctionsDir = "sanctions"

// Log kinds written by the sanctions endpoints.
const (
	KindSanctionsImported  = "sanctions.imported"
	KindSanctionsScreening = "sanctions.screening"
)

// ErrNoSanctionsList is returned when a screening is asked for before any
// list was imported: the answer is never a "clear".
var ErrNoSanctionsList = errors.New("no sanctions list loaded")

// listFormat is one import format of the API: the importer's format, the
// suffix of its stored file(s) and how the files are read.
type listFormat struct {
	name   string // the ?format= value
	format string // sanctions.Format…
	// suffixes of the stored files, in the order parse takes them.
	suffixes []string
	// parts are the multipart part names, nil when the body is the file.
	parts []string
	parse func(rs []io.Reader, max int64) (*sanctions.List, error)
}

var listFormats = []listFormat{
	{"ofac-csv", sanctions.FormatOFACCSV, []string{".sdn.csv", ".alt.csv"}, []string{"sdn", "alt"},
		func(rs []io.Reader, max int64) (*sanctions.List, error) {
			return sanctions.ParseOFACCSV(rs[0], rs[1], max)
		}},
	{"ofac-xml", sanctions.FormatOFACXML, []string{".sdn.xml"}, nil,
		func(rs []io.Reader, max int64) (*sanctions.List, error) { return sanctions.ParseOFACXML(rs[0], max) }},
	{"ofac-advanced", sanctions.FormatOFACAdvanced, []string{".sdn-advanced.xml"}, nil,
		func(rs []io.Reader, max int64) (*sanctions.List, error) {
			return sanctions.ParseOFACAdvanced(rs[0], max)
		}},
	{"eu-xml", sanctions.FormatEUXML, []string{".eu.xml"}, nil,
		func(rs []io.Reader, max int64) (*sanctions.List, error) { return sanctions.ParseEUXML(rs[0], max) }},
}

func formatNames() string {
	var names []string
	for _, f := range listFormats {
		names = append(names, f.name)
	}
	return strings.Join(names, ", ")
}

// SanctionLists holds the imported sanctions lists, one per source (a new
// OFAC SDN list replaces the previous one, whatever its format), and their
// files under Dir, from which OpenSanctionLists reloads them at start.
//
// It is safe for concurrent use: imports are serialised by mu, which also
// guards the files in Dir; screenings read the current state without
// locking.
type SanctionLists struct {
	// Dir holds the stored list files, named <sha256><suffix>; replaced
	// lists move to Dir/superseded.
	Dir string
	// MaxFile bounds each imported file in bytes; MaxSanctionsFile if 0.
	MaxFile int64

	mu    sync.Mutex
	state atomic.Pointer[sanctionState]
}

// sanctionState is an immutable set of loaded lists and their screener.
type sanctionState struct {
	lists    []loadedList
	screener *sanctions.Screener
}

type loadedList struct {
	list  *sanctions.List
	files []string // absolute paths of the stored files
}

// OpenSanctionLists creates dir if needed and loads every list stored in
// it, logging each provenance. A stored file that no longer parses, or
// whose digest disagrees with its name, is an error: screening must not
// silently run without a list that was imported.
func OpenSanctionLists(dir string, logger *slog.Logger) (*SanctionLists, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("couldn't create the sanctions directory: %w", err)
	}
	sl := &SanctionLists{Dir: dir}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the sanctions directory: %w", err)
	}
	var loaded []loadedList
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".tmp-") {
			os.Remove(filepath.Join(dir, name)) // an import that did not finish
			continue
		}
		f, sha, ok := storedFormat(name)
		if !ok {
			continue
		}
		var paths []string
		for _, suf := range f.suffixes {
			paths = append(paths, filepath.Join(dir, sha+suf))
		}
		l, err := sl.parseFiles(f, paths)
		if err != nil {
			return nil, fmt.Errorf("couldn't reload sanctions list %s (move it aside and import the list again): %w", paths[0], err)
		}
		if l.Provenance.SHA256 != sha {
			return nil, fmt.Errorf("sanctions list %s has SHA-256 %s, not the one its name says: the file changed after import", paths[0], l.Provenance.SHA256)
		}
		logger.Info("loaded sanctions list", "source", l.Provenance.Source, "format", l.Provenance.Format,
			"published", l.Provenance.Published, "sha256", l.Provenance.SHA256, "entries", l.Provenance.Entries, "file", paths[0])
		loaded = append(loaded, loadedList{list: l, files: paths})
	}
	// One list per source: if a crash left two, the most recently stored wins.
	slices.SortStableFunc(loaded, func(a, b loadedList) int { return modTime(a.files[0]).Compare(modTime(b.files[0])) })
	st := &sanctionState{}
	for _, l := range loaded {
		st = st.with(l)
	}
	sl.state.Store(st)
	return sl, nil
}

// storedFormat recognises a stored list file by its suffix; for the
// two-file CSV import only the first file names the list.
func storedFormat(name string) (listFormat, string, bool) {
	for _, f := range listFormats {
		if sha, ok := strings.CutSuffix(name, f.suffixes[0]); ok && len(sha) == 64 {
			return f, sha, true
		}
	}
	return listFormat{}, "", false
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// with returns the state with l added, replacing the list of the same
// source.
func (st *sanctionState) with(l loadedList) *sanctionState {
	next := &sanctionState{}
	for _, old := range st.lists {
		if old.list.Provenance.Source != l.list.Provenance.Source {
			next.lists = append(next.lists, old)
		}
	}
	next.lists = append(next.lists, l)
	var lists []*sanctions.List
	for _, x := range next.lists {
		lists = append(lists, x.list)
	}
	next.screener = sanctions.NewScreener(lists...)
	return next
}

// current returns the loaded lists; none before OpenSanctionLists.
func (sl *SanctionLists) current() *sanctionState {
	if st := sl.state.Load(); st != nil {
		return st
	}
	return &sanctionState{}
}

// Provenances returns the provenance of every loaded list, ordered by
// source and format (the same order whatever order they were loaded in).
func (sl *SanctionLists) Provenances() []sanctions.Provenance {
	out := []sanctions.Provenance{}
	for _, l := range sl.current().lists {
		out = append(out, l.list.Provenance)
	}
	slices.SortFunc(out, func(a, b sanctions.Provenance) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Format, b.Format))
	})
	return out
}

// Screen screens req against the loaded lists; ErrNoSanctionsList if none.
func (sl *SanctionLists) Screen(req sanctions.Request) (*sanctions.Screening, error) {
	st := sl.current()
	if len(st.lists) == 0 {
		return nil, ErrNoSanctionsList
	}
	return st.screener.Screen(req)
}

func (sl *SanctionLists) maxFile() int64 {
	if sl.MaxFile > 0 {
		return sl.MaxFile
	}
	return MaxSanctionsFile
}

// parseFiles parses the files at paths with f's importer.
func (sl *SanctionLists) parseFiles(f listFormat, paths []string) (*sanctions.List, error) {
	var rs []io.Reader
	for _, p := range paths {
		fh, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		rs = append(rs, fh)
	}
	return f.parse(rs, sl.maxFile())
}

// Import parses the spooled files at tmps (in f's order), stores them
// under their digest, calls record (which logs the import) and only then
// makes the list the one screenings use for its source. A file that does
// not parse, or a record that fails, leaves nothing stored and the loaded
// lists unchanged. The previous list of the source moves to superseded/.
func (sl *SanctionLists) Import(f listFormat, tmps []string, record func(*sanctions.List) error) (*sanctions.List, error) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	l, err := sl.parseFiles(f, tmps)
	if err != nil {
		return nil, err
	}
	var stored, created []string
	for i, suf := range f.suffixes {
		p := filepath.Join(sl.Dir, l.Provenance.SHA256+suf)
		if _, err := os.Stat(p); err != nil {
			created = append(created, p)
		}
		if err := os.Rename(tmps[i], p); err != nil {
			removeAll(created)
			return nil, fmt.Errorf("couldn't store the list file: %w", err)
		}
		stored = append(stored, p)
	}
	if err := atomicfile.SyncDir(sl.Dir); err != nil {
		removeAll(created)
		return nil, err
	}
	if err := record(l); err != nil {
		removeAll(created)
		return nil, err
	}
	st := sl.current()
	for _, old := range st.lists {
		if old.list.Provenance.Source == l.Provenance.Source && old.files[0] != stored[0] {
			supersede(sl.Dir, old.files)
		}
	}
	sl.state.Store(st.with(loadedList{list: l, files: stored}))
	return l, nil
}

// supersede moves a replaced list's files to dir/superseded, where they
// stay for whoever must check an old screening against its list.
func supersede(dir string, files []string) {
	sup := filepath.Join(dir, "superseded")
	if os.MkdirAll(sup, 0o700) != nil {
		return
	}
	for _, p := range files {
		os.Rename(p, filepath.Join(sup, filepath.Base(p)))
	}
}

func removeAll(paths []string) {
	for _, p := range paths {
		os.Remove(p)
	}
}

// spool copies at most max bytes of r into a new temporary file in dir,
// synced to disk. It reports whether r held more.
func spool(dir string, r io.Reader, max int64) (path string, tooLarge bool, err error) {
	f, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return "", false, fmt.Errorf("couldn't create a temporary file: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, max+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || n > max {
		os.Remove(f.Name())
		return "", n > max, err
	}
	return f.Name(), false, nil
}

// sanctionRoutes are the sanctions endpoints (docs/api.md): importing a
// list is for legal counsel, the DPO and the admin; screening is case
// work and legal work.
func (s *Server) sanctionRoutes() []route {
	if s.Sanctions == nil {
		return nil
	}
	return []route{
		{pattern: "POST /api/v1/sanctions/lists", h: s.importSanctionList, roles: []string{RoleLegalCounsel, RoleDPO, RoleAdmin}},
		{pattern: "GET /api/v1/sanctions/lists", h: s.listSanctionLists},
		{pattern: "POST /api/v1/sanctions/screen", h: s.screenSanctions, roles: []string{RoleAnalyst, RoleIncidentCommander, RoleLegalCounsel, RoleDPO}},
	}
}

// importedRecord is the payload of a sanctions.imported log entry: the
// provenance of the list and where its files are stored, never the list.
type importedRecord struct {
	Provenance sanctions.Provenance `json:"provenance"`
	Stored     []string             `json:"stored"`
}

func (s *Server) importSanctionList(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("format")
	i := slices.IndexFunc(listFormats, func(f listFormat) bool { return f.name == name })
	if i < 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: want one of %s", name, formatNames()))
		return
	}
	f := listFormats[i]
	max := s.Sanctions.maxFile()
	// The parts of a multipart body carry a little overhead each.
	r.Body = http.MaxBytesReader(w, r.Body, int64(len(f.suffixes))*(max+64<<10))
	tmps, code, msg := s.spoolUpload(r, f, max)
	defer removeAll(tmps) // those renamed into place are gone already
	if code != 0 {
		writeError(w, code, msg)
		return
	}
	p := actorFrom(r).Name
	var stored []string
	l, err := s.Sanctions.Import(f, tmps, func(l *sanctions.List) error {
		for _, suf := range f.suffixes {
			stored = append(stored, SanctionsDir+"/"+l.Provenance.SHA256+suf)
		}
		payload, err := json.Marshal(importedRecord{Provenance: l.Provenance, Stored: stored})
		if err != nil {
			return err
		}
		_, err = s.Log.Append(r.Context(), evidence.Record{Kind: KindSanctionsImported, Actor: p, Payload: payload})
		return err
	})
	var pe *sanctions.ParseError
	switch {
	case errors.As(err, &pe) && errors.Is(err, sanctions.ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, pe.Error())
	case errors.As(err, &pe):
		writeError(w, http.StatusBadRequest, pe.Error())
	case err != nil:
		s.internalError(w, r, fmt.Errorf("couldn't import a sanctions list: %w", err))
	default:
		s.Logger.Info("imported sanctions list", "source", l.Provenance.Source, "format", l.Provenance.Format,
			"published", l.Provenance.Published, "sha256", l.Provenance.SHA256, "entries", l.Provenance.Entries, "by", p)
		writeJSON(w, http.StatusCreated, l.Provenance)
	}
}

// spoolUpload writes the uploaded file(s) of f to temporary files in the
// sanctions directory, in f's order. On failure it returns the status and
// message to answer, and the temporary files written so far.
func (s *Server) spoolUpload(r *http.Request, f listFormat, max int64) (tmps []string, code int, msg string) {
	fail := func(err error, tooLarge bool) (int, string) {
		var mbe *http.MaxBytesError
		switch {
		case tooLarge || errors.As(err, &mbe):
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("a list file is larger than the limit of %d bytes", max)
		case err != nil:
			return http.StatusBadRequest, "couldn't read the upload: " + err.Error()
		}
		return 0, ""
	}
	if f.parts == nil {
		p, tooLarge, err := spool(s.Sanctions.Dir, r.Body, max)
		if code, msg := fail(err, tooLarge); code != 0 {
			return nil, code, msg
		}
		return []string{p}, 0, ""
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		return nil, http.StatusUnsupportedMediaType, fmt.Sprintf("format %s: the body must be multipart/form-data with the parts %s", f.name, strings.Join(f.parts, " and "))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, http.StatusBadRequest, "couldn't read the upload: " + err.Error()
	}
	got := map[string]string{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if code, msg := fail(err, false); code != 0 {
			return slices.Collect(maps.Values(got)), code, msg
		}
		name := part.FormName()
		if !slices.Contains(f.parts, name) {
			return slices.Collect(maps.Values(got)), http.StatusBadRequest, fmt.Sprintf("unexpected part %q: format %s takes the parts %s", name, f.name, strings.Join(f.parts, " and "))
		}
		if _, dup := got[name]; dup {
			return slices.Collect(maps.Values(got)), http.StatusBadRequest, fmt.Sprintf("part %q appears twice", name)
		}
		p, tooLarge, err := spool(s.Sanctions.Dir, part, max)
		if code, msg := fail(err, tooLarge); code != 0 {
			return slices.Collect(maps.Values(got)), code, msg
		}
		got[name] = p
	}
	for _, name := range f.parts {
		if got[name] == "" {
			return slices.Collect(maps.Values(got)), http.StatusBadRequest, fmt.Sprintf("part %q is missing: format %s takes the parts %s", name, f.name, strings.Join(f.parts, " and "))
		}
		tmps = append(tmps, got[name])
	}
	return tmps, 0, ""
}

func (s *Server) listSanctionLists(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"lists": s.Sanctions.Provenances()})
}

// screenRequest is the body of a screening request.
type screenRequest struct {
	Subjects  []sanctions.Subject `json:"subjects"`
	Threshold float64             `json:"threshold,omitempty"`
}

// ScreeningResponse is a logged screening record with its receipt.
type ScreeningResponse struct {
	*sanctions.Screening
	Receipt guard.Receipt `json:"receipt"`
}

func (s *Server) screenSanctions(w http.ResponseWriter, r *http.Request) {
	var in screenRequest
	if !s.decodeBody(w, r, &in) {
		return
	}
	inc := r.URL.Query().Get("incident")
	if inc != "" && s.Desk != nil {
		if _, err := s.Desk.GetIncident(r.Context(), inc); err != nil {
			s.deskError(w, r, err)
			return
		}
	}
	p := actorFrom(r).Name
	sc, err := s.Sanctions.Screen(sanctions.Request{Subjects: in.Subjects, Threshold: in.Threshold, By: p, At: s.now()})
	switch {
	case errors.Is(err, ErrNoSanctionsList):
		writeError(w, http.StatusConflict, "no sanctions list loaded: import one with 'vallum sanctions import' (a screening without lists is not a clear)")
		return
	case errors.Is(err, sanctions.ErrRequest):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.internalError(w, r, err)
		return
	}
	rcpt, err := s.logScreening(r.Context(), sc, p, inc)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ScreeningResponse{Screening: sc, Receipt: rcpt})
}

// logScreening appends the screening record to the log.
func (s *Server) logScreening(ctx context.Context, sc *sanctions.Screening, actor, inc string) (guard.Receipt, error) {
	payload, err := json.Marshal(sc)
	if err != nil {
		return guard.Receipt{}, err
	}
	rcpt, err := s.Log.Append(ctx, evidence.Record{Kind: KindSanctionsScreening, Actor: actor, Incident: inc, Payload: payload})
	if err != nil {
		return guard.Receipt{}, fmt.Errorf("couldn't log the screening: %w", err)
	}
	return guard.Receipt{Index: rcpt.Index, LeafHash: rcpt.LeafHash.String()}, nil
}

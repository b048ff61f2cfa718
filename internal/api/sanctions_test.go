package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/sanctions"
)

func sanctionsFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sanctions", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// importList uploads files (sdn and alt for ofac-csv) in format and
// returns the status and the answer.
func (as *authServer) importList(t *testing.T, token, format string, files ...string) (int, []byte) {
	t.Helper()
	path := "/api/v1/sanctions/lists?format=" + format
	if format != "ofac-csv" {
		return as.do(t, "POST", path, token, "application/xml", sanctionsFile(t, files[0]))
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for i, part := range []string{"sdn", "alt"} {
		w, err := mw.CreateFormFile(part, files[i])
		if err != nil {
			t.Fatal(err)
		}
		w.Write(sanctionsFile(t, files[i]))
	}
	mw.Close()
	return as.do(t, "POST", path, token, mw.FormDataContentType(), body.Bytes())
}

// storedFiles lists the files directly in the sanctions directory.
func (as *authServer) storedFiles(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(as.srv.Sanctions.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// lastEntry returns the header and payload of the newest log entry.
func (as *authServer) lastEntry(t *testing.T) (evidence.Header, []byte) {
	t.Helper()
	e, err := as.log.Entry(as.log.Size() - 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := evidence.DecodeHeader(e.Header)
	if err != nil {
		t.Fatal(err)
	}
	return h, e.Payload
}

func TestSanctionsImport(t *testing.T) {
	as := newAuthServer(t)
	counsel := as.addUser(t, "counsel", RoleLegalCounsel)
	for _, tt := range []struct {
		format    string
		files     []string
		source    string
		published string
		suffixes  []string
	}{
		{"ofac-csv", []string{"sdn.csv", "alt.csv"}, sanctions.SourceOFACSDN, "", []string{".sdn.csv", ".alt.csv"}},
		{"ofac-xml", []string{"SDN.XML"}, sanctions.SourceOFACSDN, "11/24/2026", []string{".sdn.xml"}},
		{"ofac-advanced", []string{"SDN_ADVANCED.XML"}, sanctions.SourceOFACSDN, "2026-11-24", []string{".sdn-advanced.xml"}},
		{"eu-xml", []string{"eu.xml"}, sanctions.SourceEUFSF, "2026-11-24T18:02:11.305+01:00", []string{".eu.xml"}},
	} {
		t.Run(tt.format, func(t *testing.T) {
			code, b := as.importList(t, counsel.Token, tt.format, tt.files...)
			if code != http.StatusCreated {
				t.Fatalf("got HTTP %d %s, want 201", code, b)
			}
			var p sanctions.Provenance
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(sanctionsFile(t, tt.files[0]))
			sha := hex.EncodeToString(sum[:])
			if p.SHA256 != sha || p.Source != tt.source || p.Published != tt.published || p.Entries == 0 {
				t.Errorf("got provenance %+v, want source %q published %q sha256 %s", p, tt.source, tt.published, sha)
			}
			for i, suf := range tt.suffixes {
				got, err := os.ReadFile(filepath.Join(as.srv.Sanctions.Dir, sha+suf))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, sanctionsFile(t, tt.files[i])) {
					t.Errorf("stored %s differs from the uploaded %s", sha+suf, tt.files[i])
				}
			}
			h, payload := as.lastEntry(t)
			var rec importedRecord
			if err := json.Unmarshal(payload, &rec); err != nil {
				t.Fatal(err)
			}
			if h.Kind != KindSanctionsImported || h.Actor != "counsel" || rec.Provenance.SHA256 != sha || len(rec.Stored) != len(tt.suffixes) {
				t.Errorf("got entry %+v %s, want %s by counsel with the provenance", h, payload, KindSanctionsImported)
			}
			if bytes.Contains(payload, []byte("KRASNOV")) {
				t.Errorf("the import entry holds the list's content: %s", payload)
			}
		})
	}
	// One list per source: the advanced XML replaced the CSV and the XML,
	// whose files moved to superseded/.
	var got struct{ Lists []sanctions.Provenance }
	as.call(t, "GET", "/api/v1/sanctions/lists", counsel.Token, "", http.StatusOK, &got)
	var formats []string
	for _, p := range got.Lists {
		formats = append(formats, p.Format)
	}
	if want := []string{sanctions.FormatEUXML, sanctions.FormatOFACAdvanced}; !slices.Equal(formats, want) { // ordered by source
		t.Errorf("got lists %v, want %v", formats, want)
	}
	if n := len(as.storedFiles(t)); n != 2 {
		t.Errorf("%d files in the sanctions directory %v, want the 2 in use", n, as.storedFiles(t))
	}
	sup, _ := os.ReadDir(filepath.Join(as.srv.Sanctions.Dir, "superseded"))
	if len(sup) != 3 {
		t.Errorf("%d superseded files, want 3 (sdn.csv, alt.csv, SDN.XML)", len(sup))
	}

	// A new server over the same directory screens against the same lists.
	reloaded, err := OpenSanctionLists(as.srv.Sanctions.Dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(reloaded.Provenances(), got.Lists, func(a, b sanctions.Provenance) bool { return a.SHA256 == b.SHA256 }) {
		t.Errorf("reloaded %+v, want %+v", reloaded.Provenances(), got.Lists)
	}
}

func TestSanctionsImportRefused(t *testing.T) {
	as := newAuthServer(t)
	for _, tt := range []struct {
		name, format string
		files        []string
		want         int
		msg          string
	}{
		{"truncated EU", "eu-xml", []string{"eu_truncated.xml"}, 400, "EU FSF XML:11"},
		{"truncated advanced", "ofac-advanced", []string{"SDN_ADVANCED_truncated.XML"}, 400, "SDN_ADVANCED.XML"},
		{"wrong root", "ofac-xml", []string{"SDN_wrong_root.XML"}, 400, "SDN.XML"},
		{"count mismatch", "ofac-xml", []string{"SDN_count_mismatch.XML"}, 400, "Record_Count"},
		{"renamed feature", "ofac-advanced", []string{"SDN_ADVANCED_renamed.XML"}, 400, "Digital Currency Address"},
		{"wrong columns", "ofac-csv", []string{"sdn_wrong_columns.csv", "alt.csv"}, 400, "sdn.csv"},
		{"orphan alias", "ofac-csv", []string{"sdn.csv", "alt_orphan.csv"}, 400, "alt.csv"},
		{"unknown format", "ofac-json", []string{"eu.xml"}, 400, "want one of ofac-csv"},
		{"csv without multipart", "ofac-csv", nil, 415, "multipart/form-data"},
		{"oversized", "ofac-advanced", []string{"SDN_ADVANCED.XML"}, 413, "limit of 4096 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			as.srv.Sanctions.MaxFile = 0
			if tt.want == http.StatusRequestEntityTooLarge {
				as.srv.Sanctions.MaxFile = 4 << 10
			}
			size := as.log.Size()
			var code int
			var b []byte
			if tt.files == nil {
				code, b = as.do(t, "POST", "/api/v1/sanctions/lists?format="+tt.format, testToken, "text/csv", sanctionsFile(t, "sdn.csv"))
			} else {
				code, b = as.importList(t, testToken, tt.format, tt.files...)
			}
			var e apiError
			json.Unmarshal(b, &e)
			if code != tt.want || !strings.Contains(e.Error, tt.msg) {
				t.Errorf("got HTTP %d %s, want %d mentioning %q", code, b, tt.want, tt.msg)
			}
			if as.log.Size() != size {
				t.Errorf("the log grew from %d to %d entries", size, as.log.Size())
			}
			if files := as.storedFiles(t); len(files) != 0 {
				t.Errorf("files left in the sanctions directory: %v", files)
			}
			if n := len(as.srv.Sanctions.Provenances()); n != 0 {
				t.Errorf("%d lists loaded, want none", n)
			}
		})
	}
}

func TestSanctionsScreen(t *testing.T) {
	as := newAuthServer(t)
	analyst := as.addUser(t, "ana", RoleAnalyst)
	screen := func(query, body string, want int) (ScreeningResponse, []byte) {
		t.Helper()
		code, b := as.do(t, "POST", "/api/v1/sanctions/screen"+query, analyst.Token, "application/json", []byte(body))
		if code != want {
			t.Fatalf("got HTTP %d %s, want %d", code, b, want)
		}
		var r ScreeningResponse
		if code == http.StatusOK {
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
		}
		return r, b
	}
	wallet := `{"subjects":[{"kind":"wallet","value":"1FakeXbtAddr7hYq2mNpQrStUvWxYz12","chain":"BTC"}]}`

	// No list: never a clear, and nothing logged.
	size := as.log.Size()
	if _, b := screen("", wallet, http.StatusConflict); !strings.Contains(string(b), "no sanctions list loaded") {
		t.Errorf("got %s, want it to say no sanctions list is loaded", b)
	}
	if as.log.Size() != size {
		t.Errorf("a refused screening was logged")
	}

	if code, b := as.importList(t, testToken, "ofac-csv", "sdn.csv", "alt.csv"); code != http.StatusCreated {
		t.Fatalf("import: got HTTP %d %s", code, b)
	}
	var inc struct{ ID string }
	as.call(t, "POST", "/api/v1/incidents", analyst.Token, `{"title":"ransom","description":"extortion","severity":"high"}`, http.StatusCreated, &inc)

	r, _ := screen("?incident="+inc.ID, wallet, http.StatusOK)
	if r.Result != sanctions.Hit || len(r.Matches) != 1 || r.Matches[0].EntryID != "9001" || r.By != "ana" {
		t.Errorf("got %+v, want a hit on entry 9001 by ana", r.Screening)
	}
	h, payload := as.lastEntry(t)
	if r.Receipt.Index != as.log.Size()-1 || h.Kind != KindSanctionsScreening || h.Incident != inc.ID || h.Actor != "ana" {
		t.Errorf("receipt %+v, entry %+v: want the last entry, %s on %s by ana", r.Receipt, h, KindSanctionsScreening, inc.ID)
	}
	want, _ := json.Marshal(r.Screening)
	if !bytes.Equal(payload, want) {
		t.Errorf("logged payload\n%s\nwant the record returned\n%s", payload, want)
	}

	r, _ = screen("", `{"subjects":[{"kind":"wallet","value":"bc1qnotlisted0000000000000000000000000abc"}]}`, http.StatusOK)
	if r.Result != sanctions.Clear || !slices.Contains(r.Notes, sanctions.NoHitIsNotPermission) {
		t.Errorf("got result %s notes %q, want clear with the no-permission note", r.Result, r.Notes)
	}

	for _, tt := range []struct {
		name, query, body string
		want              int
	}{
		{"unknown incident", "?incident=INC-NONE", wallet, http.StatusNotFound},
		{"no subjects", "", `{"subjects":[]}`, http.StatusBadRequest},
		{"unknown kind", "", `{"subjects":[{"kind":"email","value":"x@example.org"}]}`, http.StatusBadRequest},
		{"threshold out of range", "", `{"subjects":[{"kind":"name","value":"Krasnov"}],"threshold":2}`, http.StatusBadRequest},
		{"screener in the body", "", `{"subjects":[{"kind":"name","value":"Krasnov"}],"by":"someone"}`, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			size := as.log.Size()
			screen(tt.query, tt.body, tt.want)
			if as.log.Size() != size {
				t.Errorf("a refused screening was logged")
			}
		})
	}
}

// TestSanctionsReloadRefusesChangedFile: a stored list whose bytes no
// longer match its name stops the start rather than screening without it.
func TestSanctionsReloadRefusesChangedFile(t *testing.T) {
	dir := t.TempDir()
	b := sanctionsFile(t, "eu.xml")
	name := filepath.Join(dir, strings.Repeat("0", 64)+".eu.xml")
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenSanctionLists(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "changed after import") {
		t.Errorf("got %v, want a changed-file error", err)
	}
}

package api

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/incident"
)

// TestDraftsOverHTTP generates drafts of a case through the API: the
// Content-Type per format, the missing fields in X-Vallum-Missing, the
// escaping of HTML, the errors, and that nothing is logged.
func TestDraftsOverHTTP(t *testing.T) {
	as := newAuthServer(t)
	paola := as.addUser(t, "paola", RoleAnalyst).Token
	dpo := as.addUser(t, "dario", RoleDPO).Token
	audit := as.addUser(t, "ugo", RoleAuditor).Token

	var inc incident.Incident
	as.call(t, "POST", "/api/v1/incidents", paola, `{"title":"<script>alert(1)</script>","description":"patient records exfiltrated","severity":"critical","categories":["ransomware"]}`, http.StatusCreated, &inc)
	as.call(t, "POST", "/api/v1/incidents/"+inc.ID+"/observables", paola, `{"type":"ip","value":"203.0.113.9"}`, http.StatusCreated, nil)
	trigger := as.clock.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	as.call(t, "POST", "/api/v1/incidents/"+inc.ID+"/clocks", dpo, fmt.Sprintf(`{"regime":"gdpr-33","trigger":%q,"rationale":"records on the leak site"}`, trigger), http.StatusCreated, nil)

	get := func(token, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("GET", as.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := as.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	base := "/api/v1/incidents/" + inc.ID + "/drafts/"
	size := as.srv.Log.Size()

	for _, tc := range []struct {
		name, token, path, ctype string
		want                     []string
	}{
		{"gdpr-33 it md by default", dpo, base + "gdpr-33", "text/markdown; charset=utf-8",
			[]string{"BOZZA", "Garante", "[da completare]", "patient records exfiltrated"}},
		{"gdpr-33 en html", paola, base + "gdpr-33?lang=en&format=html", "text/html; charset=utf-8",
			[]string{"DRAFT", "Garante", "&lt;script&gt;", "[to complete]"}},
		{"crime report", paola, base + "crime-report?lang=en", "text/markdown; charset=utf-8",
			[]string{"c.p.p. art. 332", "203.0.113.9", "without delay"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(tc.token, tc.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got HTTP %d %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("got Content-Type %q, want %q", got, tc.ctype)
			}
			if got := resp.Header.Get("X-Vallum-Missing"); !strings.Contains(got, "subjects") && !strings.Contains(got, "suspect") {
				t.Errorf("got X-Vallum-Missing %q, want the fields to complete", got)
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("the draft lacks %q:\n%s", s, body)
				}
			}
			if strings.Contains(tc.path, "html") && strings.Contains(body, "<script>") {
				t.Errorf("the HTML draft has the title unescaped:\n%s", body)
			}
		})
	}
	if got := as.srv.Log.Size(); got != size {
		t.Errorf("generating drafts appended %d entries to the log, want none", got-size)
	}

	for _, tc := range []struct {
		name, token, path string
		code              int
	}{
		{"unknown kind", paola, base + "dora-initial", http.StatusNotFound},
		{"unknown lang", paola, base + "gdpr-33?lang=fr", http.StatusBadRequest},
		{"unknown format", paola, base + "gdpr-33?format=pdf", http.StatusBadRequest},
		{"unknown incident", paola, "/api/v1/incidents/INC-NONE/drafts/gdpr-33", http.StatusNotFound},
		{"auditor", audit, base + "gdpr-33", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := get(tc.token, tc.path); resp.StatusCode != tc.code {
				t.Errorf("got HTTP %d %s, want %d", resp.StatusCode, body, tc.code)
			}
		})
	}
}

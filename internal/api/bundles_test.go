package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/bundle"
	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/tsa"
	"github.com/vallum/vallum/internal/tsa/tsatest"
	"github.com/vallum/vallum/policies"
)

func init() {
	matrix = append(matrix,
		matrixRow{"GET /api/v1/incidents/{id}/bundle", "/api/v1/incidents/INC-NOPE/bundle", "", bundleRoles},
		matrixRow{"GET /api/v1/anchors", "/api/v1/anchors", "", anyone},
		matrixRow{"POST /api/v1/anchors", "/api/v1/anchors", "{}", []string{RoleAdmin}},
	)
	authServerHooks = append(authServerHooks, func(t *testing.T, s *Server) { s.Bundles = &BundleService{} })
}

func TestBundleOverHTTP(t *testing.T) {
	as := newAuthServer(t)
	ctx := context.Background()
	auth := tsatest.Start(t, tsatest.Options{ESSCertIDAlg: "sha256", Name: "API Test TSA"})
	pool, _ := tsa.PoolFromPEM(auth.CAPEM)
	st, err := tsa.OpenStore(ctx, as.db)
	if err != nil {
		t.Fatal(err)
	}
	b := as.srv.Bundles
	b.Anchors, b.Packs = st, policies.FS()
	b.Anchorer = &tsa.Anchorer{Log: as.log, Store: st, Logger: as.srv.Logger,
		Authorities: []*tsa.Authority{{Name: "api-tsa", URL: auth.URL, Roots: pool, RootsPEM: auth.CAPEM}}}

	inc, err := as.srv.Desk.Create(ctx, incident.Actor{Name: "paola", Roles: []string{RoleAnalyst}}, incident.NewIncident{Title: "phishing", Severity: incident.Medium})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := as.srv.Desk.AddNote(ctx, incident.Actor{Name: "paola", Roles: []string{RoleAnalyst}}, inc.ID, "mailbox of a.bianchi"); err != nil {
		t.Fatal(err)
	}
	var anchored struct{ Anchors []tsa.Anchor }
	as.call(t, "POST", "/api/v1/anchors", testToken, `{"incident":"`+inc.ID+`","reason":"before export"}`, http.StatusCreated, &anchored)
	if len(anchored.Anchors) != 1 || anchored.Anchors[0].Incident != inc.ID || !strings.Contains(anchored.Anchors[0].Reason, "before export") {
		t.Fatalf("anchor now: %+v", anchored.Anchors)
	}
	as.call(t, "POST", "/api/v1/anchors", testToken, `{"incident":"INC-NOPE"}`, http.StatusNotFound, nil)
	as.call(t, "POST", "/api/v1/anchors", testToken, `{"bogus":1}`, http.StatusBadRequest, nil)
	var listed struct{ Anchors []tsa.Anchor }
	as.call(t, "GET", "/api/v1/anchors", testToken, "", http.StatusOK, &listed)
	if len(listed.Anchors) != 1 || listed.Anchors[0].TokenSHA256 != anchored.Anchors[0].TokenSHA256 {
		t.Fatalf("listed %+v", listed.Anchors)
	}
	as.call(t, "GET", "/api/v1/anchors?limit=0", testToken, "", http.StatusBadRequest, nil)

	// The bundle covers what the projection has indexed: wait for it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, _, _ := as.db.Head(ctx); n == as.log.Size() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("projection didn't catch up")
		}
	}
	dpo := as.addUser(t, "giulia", RoleDPO)
	code, body := as.do(t, "GET", "/api/v1/incidents/"+inc.ID+"/bundle?lang=en", dpo.Token, "", nil)
	if code != http.StatusOK {
		t.Fatalf("GET bundle: HTTP %d %s", code, body)
	}
	files, err := bundle.ReadTarGz(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	rep := bundle.Verify(files, bundle.VerifyOptions{VKey: as.vkey})
	if !rep.OK() || len(rep.Anchors) != 1 || len(rep.Packs) != 0 {
		t.Fatalf("bundle over HTTP:\n%s", rep)
	}
	if _, ok := files["report/report.en.html"]; !ok {
		t.Error("no English report")
	}
	if _, ok := files["report/report.it.html"]; ok {
		t.Error("lang=en gave the Italian report too")
	}
	// The export is logged, naming the manifest handed out.
	var exported int64 = -1
	for i := as.log.Size() - 1; i >= 0 && exported < 0; i-- {
		e, _ := as.log.Entry(i)
		h, _ := evidence.DecodeHeader(e.Header)
		if h.Kind == bundle.ExportedKind {
			exported = i
			var p bundle.ExportedPayload
			json.Unmarshal(e.Payload, &p)
			if p.Incident != inc.ID || h.Actor != "giulia" || p.ManifestSHA256 == "" {
				t.Errorf("export entry %s by %s: %+v", e.Payload, h.Actor, p)
			}
		}
	}
	if exported < 0 {
		t.Fatal("the export was not logged")
	}
	// Errors.
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/v1/incidents/INC-NOPE/bundle", http.StatusNotFound},
		{"/api/v1/incidents/" + inc.ID + "/bundle?lang=de", http.StatusBadRequest},
		{"/api/v1/incidents/" + inc.ID + "/bundle?with_files=maybe", http.StatusBadRequest},
	} {
		if code, b := as.do(t, "GET", tc.path, dpo.Token, "", nil); code != tc.want {
			t.Errorf("GET %s: HTTP %d %s, want %d", tc.path, code, b, tc.want)
		}
	}
	// No authority configured: 503, nothing logged.
	b.Anchorer = nil
	size := as.log.Size()
	as.call(t, "POST", "/api/v1/anchors", testToken, "", http.StatusServiceUnavailable, nil)
	if as.log.Size() != size {
		t.Error("a refused anchor request wrote to the log")
	}
}

package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/honeytoken"
)

func init() {
	matrix = append(matrix,
		matrixRow{"POST /api/v1/honeytokens", "/api/v1/honeytokens", `{}`, []string{RoleAnalyst, RoleIncidentCommander, RoleAdmin}},
		matrixRow{"GET /api/v1/honeytokens", "/api/v1/honeytokens", "", anyone},
		matrixRow{"GET /api/v1/honeytokens/{id}", "/api/v1/honeytokens/HT-none", "", anyone},
	)
	authServerHooks = append(authServerHooks, func(t *testing.T, s *Server) {
		reg, err := honeytoken.Open(context.Background(), s.DB, s.Log, honeytoken.Options{Domain: "corp.example"})
		if err != nil {
			t.Fatal(err)
		}
		s.Honeytokens = &HoneytokenService{Registry: reg}
	})
}

func TestHoneytokens(t *testing.T) {
	as := newAuthServer(t)
	analyst := as.addUser(t, "ana", RoleAnalyst)
	auditor := as.addUser(t, "aud", RoleAuditor)

	size := as.log.Size()
	var created struct{ Honeytoken honeytoken.Token }
	as.call(t, "POST", "/api/v1/honeytokens", analyst.Token, `{"type":"credential","planted":"fileserver:/srv/share/passwords.xlsx","note":"Q4 bait"}`, http.StatusCreated, &created)
	tok := created.Honeytoken
	if tok.CreatedBy != "ana" || tok.Planted != "fileserver:/srv/share/passwords.xlsx" || tok.Fields["password"] == "" || tok.Masked {
		t.Fatalf("created %+v", tok)
	}
	// Logged first, by the caller.
	if as.log.Size() != size+1 || tok.LogIndex != size {
		t.Fatalf("log size %d → %d, token log index %d", size, as.log.Size(), tok.LogIndex)
	}
	e, err := as.log.Entry(tok.LogIndex)
	if err != nil || !strings.Contains(string(e.Payload), tok.Fields["password"]) || !strings.Contains(string(e.Header), "ana") {
		t.Errorf("log entry %q %q, %v", e.Header, e.Payload, err)
	}

	// A beaconing token is refused with the legal reason, and not logged.
	size = as.log.Size()
	code, b := as.do(t, "POST", "/api/v1/honeytokens", analyst.Token, "application/json", []byte(`{"type":"document","planted":"share"}`))
	var ref honeytokenRefusal
	json.Unmarshal(b, &ref)
	if code != http.StatusUnprocessableEntity || !strings.Contains(ref.LegalReason, "615-ter") || as.log.Size() != size {
		t.Errorf("beacon: HTTP %d %s (log %d → %d)", code, b, size, as.log.Size())
	}
	code, b = as.do(t, "POST", "/api/v1/honeytokens", analyst.Token, "application/json", []byte(`{"type":"credential"}`))
	if code != http.StatusBadRequest || !strings.Contains(string(b), "planted is required") {
		t.Errorf("no planted: HTTP %d %s", code, b)
	}
	code, b = as.do(t, "POST", "/api/v1/honeytokens", analyst.Token, "application/json", []byte(`{"type":"credential","planted":"x","beacon":true}`))
	if code != http.StatusBadRequest || !strings.Contains(string(b), "unknown field") {
		t.Errorf("unknown field: HTTP %d %s", code, b)
	}

	// Analysts see values; an auditor sees them masked.
	var list struct{ Honeytokens []honeytoken.Token }
	as.call(t, "GET", "/api/v1/honeytokens", analyst.Token, "", http.StatusOK, &list)
	if len(list.Honeytokens) != 1 || list.Honeytokens[0].Value != tok.Value {
		t.Errorf("analyst list %+v", list)
	}
	as.call(t, "GET", "/api/v1/honeytokens", auditor.Token, "", http.StatusOK, &list)
	if len(list.Honeytokens) != 1 || !list.Honeytokens[0].Masked || strings.Contains(list.Honeytokens[0].Value, tok.Fields["password"]) || list.Honeytokens[0].Planted != tok.Planted {
		t.Errorf("auditor list %+v", list)
	}
	var one struct{ Honeytoken honeytoken.Token }
	as.call(t, "GET", "/api/v1/honeytokens/"+tok.ID, auditor.Token, "", http.StatusOK, &one)
	if one.Honeytoken.ID != tok.ID || !one.Honeytoken.Masked {
		t.Errorf("auditor get %+v", one)
	}
	as.call(t, "GET", "/api/v1/honeytokens/"+tok.ID, testToken, "", http.StatusOK, &one)
	if one.Honeytoken.Value != tok.Value {
		t.Errorf("admin get %+v", one)
	}
	as.call(t, "GET", "/api/v1/honeytokens/HT-000000000000", analyst.Token, "", http.StatusNotFound, nil)
}

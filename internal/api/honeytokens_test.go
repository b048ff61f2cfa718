package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/honeytoken"
	"github.com/vallum/vallum/internal/intake"
	"github.com/vallum/vallum/internal/sensor"
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
	if err != nil || strings.Contains(string(e.Payload), tok.Fields["password"]) || !strings.Contains(string(e.Header), "ana") {
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

// TestHoneytokenValuesHiddenFromReaders checks that a role outside the
// honeytoken readers never reads a token's value: not in its
// honeytoken.created log entry, not in an event that used it; while an
// analyst still reads it from the honeytoken API and in the event.
func TestHoneytokenValuesHiddenFromReaders(t *testing.T) {
	as := newAuthServer(t)
	analyst := as.addUser(t, "ana", RoleAnalyst)
	auditor := as.addUser(t, "aud", RoleAuditor)
	var created struct{ Honeytoken honeytoken.Token }
	as.call(t, "POST", "/api/v1/honeytokens", analyst.Token, `{"type":"credential","planted":"fileserver:/srv/share/passwords.xlsx"}`, http.StatusCreated, &created)
	tok := created.Honeytoken
	password := tok.Fields["password"]

	// The log entry commits to the value by its hash.
	var ent EntryView
	as.call(t, "GET", fmt.Sprintf("/log/v1/entries/%d", tok.LogIndex), auditor.Token, "", http.StatusOK, &ent)
	if strings.Contains(string(ent.Payload), password) || strings.Contains(string(ent.PayloadBytes), password) {
		t.Errorf("auditor reads the password %q in log entry %d: %s", password, tok.LogIndex, ent.Payload)
	}
	var logged honeytoken.Created
	if err := json.Unmarshal(ent.Payload, &logged); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(tok.Value)); logged.ValueSHA256 != hex.EncodeToString(sum[:]) || logged.ID != tok.ID {
		t.Errorf("log entry %s: want the SHA-256 of %q", ent.Payload, tok.Value)
	}
	if code, b := as.do(t, "GET", "/api/v1/log/entries", auditor.Token, "", nil); code != http.StatusOK || bytes.Contains(b, []byte(password)) {
		t.Errorf("auditor log listing: HTTP %d, holds the password %q: %s", code, password, b)
	}

	// The token used against a sensor: the event carries it.
	ev := fmt.Sprintf(`{"id":"ht-use","time":%q,"sensor":"edge-1/http","protocol":"http","kind":"auth","src":{"ip":"203.0.113.7","port":40000},"dst":{"ip":"10.0.0.5","port":80},"credentials":{"method":"form","username":%q,"password":%q},"command":"POST /login user=%s&pass=%s"}`,
		time.Now().UTC().Format(time.RFC3339Nano), tok.Fields["username"], password, tok.Fields["username"], password)
	var resp BatchResponse
	as.call(t, "POST", "/api/v1/events", analyst.Token, ev, http.StatusOK, &resp)
	if resp.Accepted != 1 {
		t.Fatalf("posting the event: %+v", resp)
	}
	type page struct {
		Events []intake.Listed `json:"events"`
	}
	used := func(token string) (*sensor.Event, []byte) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, b := as.do(t, "GET", "/api/v1/events?kind=auth", token, "", nil)
			var p page
			if err := json.Unmarshal(b, &p); code != http.StatusOK || err != nil {
				t.Fatalf("listing events: HTTP %d %s", code, b)
			}
			if len(p.Events) == 1 && p.Events[0].Event != nil {
				return p.Events[0].Event, b
			}
			if time.Now().After(deadline) {
				t.Fatalf("the event is not listed: %s", b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	e, b := used(auditor.Token)
	if e.Honeytoken != tok.ID {
		t.Fatalf("event honeytoken %q, want %s", e.Honeytoken, tok.ID)
	}
	if bytes.Contains(b, []byte(password)) {
		t.Errorf("auditor reads the password %q in the events: %s", password, b)
	}
	if e.Credentials == nil || e.Credentials.Password != honeytoken.MaskString(password) {
		t.Errorf("auditor sees credentials %+v, want the password masked", e.Credentials)
	}
	e, _ = used(analyst.Token)
	if e.Credentials == nil || e.Credentials.Password != password || !strings.Contains(e.Command, password) {
		t.Errorf("analyst sees %+v %q, want the password %q", e.Credentials, e.Command, password)
	}
	var one struct{ Honeytoken honeytoken.Token }
	as.call(t, "GET", "/api/v1/honeytokens/"+tok.ID, analyst.Token, "", http.StatusOK, &one)
	if one.Honeytoken.Value != tok.Value || one.Honeytoken.Fields["password"] != password {
		t.Errorf("analyst reads %+v, want the value %q", one.Honeytoken, tok.Value)
	}
}

package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/incident"
)

// TestClocksOverHTTP declares regimes on an incident through the API,
// records submissions (a late one refused without reasons), and reads the
// clocks, the due-soon list and the regime table.
func TestClocksOverHTTP(t *testing.T) {
	as := newAuthServer(t)
	paola := as.addUser(t, "paola", RoleAnalyst).Token
	dpo := as.addUser(t, "dario", RoleDPO).Token
	audit := as.addUser(t, "ugo", RoleAuditor).Token

	var inc incident.Incident
	as.call(t, "POST", "/api/v1/incidents", paola, `{"title":"Ransomware on the PACS","severity":"critical"}`, http.StatusCreated, &inc)
	base := "/api/v1/incidents/" + inc.ID + "/clocks"
	now := as.clock.Now()
	ts := func(d time.Duration) string { return now.Add(d).UTC().Format(time.RFC3339) }

	var got struct{ Clocks []incident.Clock }
	as.call(t, "POST", base, paola, fmt.Sprintf(`{"regime":"nis2-it","trigger":%q,"rationale":"PACS down, patients diverted"}`, ts(-2*time.Hour)), http.StatusCreated, &got)
	if len(got.Clocks) != 3 || got.Clocks[0].State != incident.ClockDueSoon || got.Clocks[2].State != incident.ClockWaiting || got.Clocks[0].DueRome == "" {
		t.Fatalf("after declaring NIS2: %+v", got.Clocks)
	}
	as.call(t, "POST", base, dpo, fmt.Sprintf(`{"regime":"gdpr-33","trigger":%q,"rationale":"patient records exfiltrated"}`, ts(-80*time.Hour)), http.StatusCreated, nil)
	as.call(t, "POST", base, audit, `{"regime":"querela","trigger":"2026-01-01T00:00:00Z","rationale":"x"}`, http.StatusForbidden, nil)
	as.call(t, "POST", base, paola, fmt.Sprintf(`{"regime":"gdpr-33","trigger":%q,"rationale":"again"}`, ts(-time.Hour)), http.StatusBadRequest, nil)
	as.call(t, "POST", base, paola, fmt.Sprintf(`{"regime":"querela","trigger":%q,"rationale":"x"}`, ts(time.Hour)), http.StatusBadRequest, nil)
	as.call(t, "POST", "/api/v1/incidents/INC-NONE/clocks", paola, fmt.Sprintf(`{"regime":"querela","trigger":%q,"rationale":"x"}`, ts(-time.Hour)), http.StatusNotFound, nil)

	sha := strings.Repeat("ab", 32)
	gdpr := base + "/gdpr-33/submissions"
	code, b := as.do(t, "POST", gdpr, dpo, "application/json", []byte(fmt.Sprintf(`{"deadline":"notification","channel":"Garante online","reference":"GPDP-1","sent_sha256":%q}`, sha)))
	if code != http.StatusBadRequest || !strings.Contains(string(b), "late_reason") {
		t.Fatalf("late GDPR notice without reasons: HTTP %d %s, want 400 naming late_reason", code, b)
	}
	as.call(t, "POST", gdpr, dpo, fmt.Sprintf(`{"deadline":"notification","channel":"Garante online","reference":"GPDP-1","sent_sha256":%q,"late_reason":"scope certain only after the forensic copy"}`, sha), http.StatusCreated, nil)
	as.call(t, "POST", base+"/nis2-it/submissions", paola, fmt.Sprintf(`{"deadline":"notification","channel":"ACN portal","reference":"ACN-9","sent_sha256":%q,"at":%q}`, sha, ts(-time.Hour)), http.StatusCreated, nil)

	as.call(t, "GET", base, audit, "", http.StatusOK, &got)
	states := map[string]incident.ClockState{}
	for _, c := range got.Clocks {
		states[c.Regime+"/"+c.Deadline] = c.State
	}
	want := map[string]incident.ClockState{
		"nis2-it/pre_notification": incident.ClockDueSoon, "nis2-it/notification": incident.ClockMet,
		"nis2-it/final_report": incident.ClockPending, "gdpr-33/notification": incident.ClockMetLate,
	}
	for k, w := range want {
		if states[k] != w {
			t.Errorf("%s: got %q, want %q", k, states[k], w)
		}
	}

	as.call(t, "GET", "/api/v1/clocks/due?within=24h", audit, "", http.StatusOK, &got)
	if len(got.Clocks) != 1 || got.Clocks[0].Deadline != "pre_notification" {
		t.Errorf("due within 24h: got %+v, want the NIS2 pre-notification", got.Clocks)
	}
	as.call(t, "GET", "/api/v1/clocks/due?within=tomorrow", audit, "", http.StatusBadRequest, nil)

	var regimes struct{ Regimes []incident.Regime }
	as.call(t, "GET", "/api/v1/regimes", audit, "", http.StatusOK, &regimes)
	if len(regimes.Regimes) != len(incident.Regimes) {
		t.Errorf("got %d regimes, want %d", len(regimes.Regimes), len(incident.Regimes))
	}
}

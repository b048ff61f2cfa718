package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/incident"
)

// TestRansomOverHTTP keeps an incident's ransom track through the API: a
// screening logged by the screen endpoint is linked by its index, and the
// track reads back what was recorded.
func TestRansomOverHTTP(t *testing.T) {
	as := newAuthServer(t)
	paola := as.addUser(t, "paola", RoleAnalyst).Token
	ic := as.addUser(t, "ivo", RoleIncidentCommander).Token
	legal := as.addUser(t, "luca", RoleLegalCounsel).Token
	audit := as.addUser(t, "ugo", RoleAuditor).Token

	var inc incident.Incident
	as.call(t, "POST", "/api/v1/incidents", paola, `{"title":"LockBit on the PACS","severity":"critical"}`, http.StatusCreated, &inc)
	base := "/api/v1/incidents/" + inc.ID + "/ransom"
	at := as.clock.Now().Add(-time.Hour).UTC().Format(time.RFC3339)

	// Nothing before the incident is marked as extortion.
	as.call(t, "POST", base+"/authority-reports", ic, fmt.Sprintf(`{"authority":"police","reference":"PP-1","at":%q}`, at), http.StatusBadRequest, nil)
	as.call(t, "POST", base, paola, `{"reason":"ransom note"}`, http.StatusForbidden, nil)
	as.call(t, "POST", base, ic, `{"reason":"ransom note"}`, http.StatusCreated, nil)
	as.call(t, "POST", base+"/authority-reports", legal, fmt.Sprintf(`{"authority":"police","reference":"PP-1","at":%q}`, at), http.StatusCreated, nil)
	as.call(t, "POST", base+"/authority-reports", legal, fmt.Sprintf(`{"authority":"acn","reference":"PP-2","at":%q}`, at), http.StatusBadRequest, nil)
	var msg struct{ Evidence string }
	as.call(t, "POST", base+"/messages", ic, fmt.Sprintf(`{"direction":"inbound","channel":"tox","sha256":%q,"at":%q,"summary":"20 BTC"}`, strings.Repeat("ab", 32), at), http.StatusCreated, &msg)
	if !strings.HasPrefix(msg.Evidence, "EVD-") {
		t.Fatalf("message evidence %q, want an EVD- id", msg.Evidence)
	}
	as.call(t, "GET", "/api/v1/evidence/"+msg.Evidence, audit, "", http.StatusOK, nil)

	if code, b := as.importList(t, testToken, "ofac-csv", "sdn.csv", "alt.csv"); code != http.StatusCreated {
		t.Fatalf("import: HTTP %d %s", code, b)
	}
	var sc ScreeningResponse
	as.call(t, "POST", "/api/v1/sanctions/screen?incident="+inc.ID, legal, `{"subjects":[{"kind":"wallet","value":"1FakeXbtAddr7hYq2mNpQrStUvWxYz12","chain":"BTC"}]}`, http.StatusOK, &sc)
	as.call(t, "POST", base+"/screenings", legal, `{}`, http.StatusBadRequest, nil)
	as.call(t, "POST", base+"/screenings", legal, fmt.Sprintf(`{"screening":%d}`, sc.Receipt.Index-1), http.StatusBadRequest, nil)
	as.call(t, "POST", base+"/screenings", legal, fmt.Sprintf(`{"screening":%d}`, sc.Receipt.Index), http.StatusCreated, nil)

	var tr incident.RansomTrack
	as.call(t, "GET", base, audit, "", http.StatusOK, &tr)
	if !tr.Extortion || len(tr.Reports) != 1 || len(tr.Messages) != 1 || len(tr.Screenings) != 1 ||
		tr.Screenings[0].Result != string(sc.Result) || tr.Screenings[0].Screening != sc.Receipt.Index || tr.Screenings[0].ListVersion == "" {
		t.Fatalf("track: %+v (screening %+v)", tr, sc.Screening)
	}
	as.call(t, "GET", "/api/v1/incidents/INC-NONE/ransom", audit, "", http.StatusNotFound, nil)
}

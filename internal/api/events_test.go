package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/intake"
	"github.com/vallum/vallum/internal/intake/intaketest"
	"github.com/vallum/vallum/internal/sensor"
)

func init() {
	ship := []string{RoleAnalyst, RoleAdmin}
	matrix = append(matrix,
		matrixRow{"POST /api/v1/events", "/api/v1/events", `[]`, []string{RoleAnalyst, RoleAdmin, RoleSensor}},
		matrixRow{"GET /api/v1/events", "/api/v1/events", "", anyone},
		matrixRow{"GET /api/v1/events/stats", "/api/v1/events/stats", "", anyone},
		matrixRow{"POST /api/v1/intake/suricata", "/api/v1/intake/suricata", "", ship},
		matrixRow{"POST /api/v1/intake/webhook", "/api/v1/intake/webhook", `[]`, ship},
	)
	authServerHooks = append(authServerHooks, func(t *testing.T, s *Server) {
		s.Events = &EventService{Pipeline: startTestPipeline(t, s), Sensor: "hq"}
	})
}

// startTestPipeline runs an event pipeline on the server's log, database
// and desk until the test ends. It recognises the tokens of
// s.Honeytokens, which a later hook sets, as vallum serve does.
func startTestPipeline(t *testing.T, s *Server) *intake.Pipeline {
	t.Helper()
	tokens := intake.TokenMatchFunc(func(e sensor.Event) (string, bool) {
		if s.Honeytokens == nil {
			return "", false
		}
		tok, ok := s.Honeytokens.Registry.Match(e)
		return tok.ID, ok
	})
	cfg := intake.Config{Log: s.Log, DB: s.DB, Desk: s.Desk, Tokens: tokens}
	cfg.Intake.Correlation.Flush = 20 * time.Millisecond
	// A rate so low that no token comes back during a test: what is over
	// the burst is limited however slowly the test runs.
	cfg.Intake.PerSourceRate.Rate = 0.001
	cfg.Intake.PerSourceRate.Summary = 50 * time.Millisecond
	return intaketest.Pipeline(t, cfg)
}

// eventLine is an event observed at eventTime: the same ID on two lines
// is the same event (a copy), as a sensor re-sending it would send it.
func eventLine(id, src, kind string) string { return eventLineAt(id, src, kind, eventTime) }

var eventTime = time.Now()

func eventLineAt(id, src, kind string, t time.Time) string {
	return fmt.Sprintf(`{"id":%q,"time":%q,"sensor":"edge-1/ssh","protocol":"ssh","kind":%q,"src":{"ip":%q,"port":40000},"dst":{"ip":"10.0.0.5","port":22},"session":"s-1"}`,
		id, t.UTC().Format(time.RFC3339Nano), kind, src)
}

func TestPostEventsPerLineResults(t *testing.T) {
	as := newAuthServer(t)
	body := eventLine("e1", "203.0.113.9", "connect") + "\n\n" + "not json\n" + eventLine("e2", "203.0.113.9", "auth") + "\n" +
		eventLine("e1", "203.0.113.9", "connect") + "\n" + `{"id":"e3","sensor":"x","kind":"bogus"}` + "\n"
	code, b := as.do(t, "POST", "/api/v1/events", testToken, "application/x-ndjson", []byte(body))
	if code != http.StatusOK {
		t.Fatalf("got HTTP %d %s", code, b)
	}
	var resp BatchResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{1: intake.Accepted, 3: intake.Rejected, 4: intake.Accepted, 5: intake.Duplicate, 6: intake.Rejected}
	if len(resp.Results) != len(want) {
		t.Fatalf("got %d results, want %d: %s", len(resp.Results), len(want), b)
	}
	for _, r := range resp.Results {
		if want[r.Line] != r.Status {
			t.Errorf("line %d: got %s (%s), want %s", r.Line, r.Status, r.Error, want[r.Line])
		}
	}
	if resp.Accepted != 2 || resp.Duplicates != 1 || resp.Rejected != 2 {
		t.Errorf("counts: %+v", resp)
	}
	// A JSON array works too; sending the batch again logs nothing new.
	arr := "[" + eventLine("e2", "203.0.113.9", "auth") + "," + eventLine("e4", "203.0.113.10", "connect") + "]"
	as.call(t, "POST", "/api/v1/events", testToken, arr, http.StatusOK, &resp)
	if resp.Duplicates != 1 || resp.Accepted != 1 {
		t.Errorf("array: %+v", resp)
	}
	// Too large a body is refused as a whole.
	big := strings.Repeat(eventLine("big", "203.0.113.9", "connect")+"\n", 1000)
	if code, _ := as.do(t, "POST", "/api/v1/events", testToken, "application/x-ndjson", []byte(big)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized batch: got HTTP %d, want 413", code)
	}
	if code, _ := as.do(t, "POST", "/api/v1/events", testToken, "text/html", []byte("[]")); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/html: got HTTP %d, want 415", code)
	}

	// Listing: by source, paginated.
	var page struct {
		Events []intake.Listed `json:"events"`
		Next   int64           `json:"next"`
	}
	// The index follows the log: wait until it holds the three events.
	deadline := time.Now().Add(10 * time.Second)
	for {
		as.call(t, "GET", "/api/v1/events", testToken, "", http.StatusOK, &page)
		if len(page.Events) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	as.call(t, "GET", "/api/v1/events?source=203.0.113.9&limit=1", testToken, "", http.StatusOK, &page)
	if len(page.Events) != 1 || page.Next == 0 || page.Events[0].Event == nil {
		t.Fatalf("first page: %+v", page)
	}
	first := page.Events[0].Event.ID
	as.call(t, "GET", fmt.Sprintf("/api/v1/events?source=203.0.113.9&from=%d", page.Next), testToken, "", http.StatusOK, &page)
	if len(page.Events) != 1 || page.Next != 0 || page.Events[0].Event == nil || first+page.Events[0].Event.ID != "e1e2" && first+page.Events[0].Event.ID != "e2e1" {
		t.Errorf("second page after %s: %+v", first, page)
	}
	as.call(t, "GET", "/api/v1/events?kind=connect&sensor=edge-1/ssh", testToken, "", http.StatusOK, &page)
	if len(page.Events) != 2 {
		t.Errorf("kind=connect: got %d events, want 2", len(page.Events))
	}
	as.call(t, "GET", "/api/v1/events?since=yesterday", testToken, "", http.StatusBadRequest, nil)

	var stats struct {
		Events intake.EventStats `json:"events"`
	}
	as.call(t, "GET", "/api/v1/events/stats", testToken, "", http.StatusOK, &stats)
	if stats.Events.Total != 3 || len(stats.Events.TopSources) != 2 || stats.Events.TopSources[0].Source != "203.0.113.9" || len(stats.Events.PerHour) == 0 {
		t.Errorf("stats: %+v", stats.Events)
	}
}

func TestSuricataAndWebhookIntake(t *testing.T) {
	as := newAuthServer(t)
	eve := `{"timestamp":"2026-11-28T10:15:02.123456+0000","event_type":"alert","src_ip":"203.0.113.20","src_port":1,"dest_ip":"10.0.0.5","dest_port":22,"proto":"TCP","alert":{"signature":"ET SCAN ssh","signature_id":1,"severity":1}}
{"timestamp":"2026-11-28T10:15:03+0000","event_type":"stats"}
{broken
`
	var resp BatchResponse
	as.call(t, "POST", "/api/v1/intake/suricata", testToken, eve, http.StatusOK, &resp)
	if resp.Accepted != 1 || resp.Skipped != 1 || resp.Rejected != 1 || resp.Results[2].Line != 3 {
		t.Errorf("suricata: %+v", resp)
	}
	as.call(t, "POST", "/api/v1/intake/suricata", testToken, eve, http.StatusOK, &resp)
	if resp.Duplicates != 1 || resp.Accepted != 0 {
		t.Errorf("suricata re-posted: %+v", resp)
	}

	hook := `{"src_ip":"203.0.113.21","message":"WAF blocked /etc/passwd","severity":"medium"}`
	as.call(t, "POST", "/api/v1/intake/webhook", testToken, hook, http.StatusOK, &resp)
	if resp.Accepted != 1 {
		t.Errorf("webhook: %+v", resp)
	}
	// With a shared secret, the signature is required as well.
	as.srv.Events.WebhookSecret = []byte("s3cret")
	hook2 := `{"src_ip":"203.0.113.22","message":"second"}`
	as.call(t, "POST", "/api/v1/intake/webhook", testToken, hook2, http.StatusUnauthorized, nil)
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte(hook2))
	req, _ := http.NewRequest("POST", as.URL+"/api/v1/intake/webhook", strings.NewReader(hook2))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set(intake.SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("signed webhook: got HTTP %d", res.StatusCode)
	}
}

// A high-severity event opens an incident; a decision on that incident
// then records present_danger from the event's time.
func TestEventsFeedPresentDanger(t *testing.T) {
	as := newAuthServer(t)
	paola := as.addUser(t, "paola", RoleAnalyst).Token
	seen := as.clock.Now().Add(-time.Minute) // the server's (fake) clock
	as.call(t, "POST", "/api/v1/events", testToken, eventLineAt("cmd-1", "203.0.113.30", "command", seen), http.StatusOK, nil)
	var list []incident.Incident
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		list, _, err = as.srv.Desk.ListIncidents(context.Background(), incident.Filter{}, incident.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 {
			if evs, _ := as.srv.Desk.Events(context.Background(), list[0].ID); len(evs) == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no incident with the event linked: %+v", list)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var a incident.Action
	as.call(t, "POST", "/api/v1/incidents/"+list[0].ID+"/actions", paola, `{"action":{"kind":"firewall_block","target":"203.0.113.30","params":{"device":"fw-edge"}}}`, http.StatusCreated, &a)
	as.call(t, "POST", "/api/v1/actions/"+a.ID+"/decide", paola, "", http.StatusOK, &a)
	if a.Decision == nil {
		t.Fatalf("no decision receipt: %+v", a)
	}
	ent, err := as.log.Entry(a.Decision.Index)
	if err != nil {
		t.Fatal(err)
	}
	var rec DecisionRecord
	if err := json.Unmarshal(ent.Payload, &rec); err != nil {
		t.Fatal(err)
	}
	if !rec.Decision.Facts.PresentDanger || !strings.Contains(string(ent.Payload), seen.UTC().Format(time.RFC3339Nano)) {
		t.Errorf("present_danger is false after a command from the source a minute ago: %s", ent.Payload)
	}
}

// TestSensorRole checks the remote sensor's role: it posts events, which
// are logged under its own name and never with a honeytoken it claims,
// and reads nothing, not even through the console's sign-in.
func TestSensorRole(t *testing.T) {
	as := newAuthServer(t)
	edge := as.addUser(t, "edge-1", RoleSensor)
	analyst := as.addUser(t, "ana", RoleAnalyst)

	now := time.Now().UTC().Format(time.RFC3339Nano)
	line := func(id, sensorName, honeytoken string) string {
		return fmt.Sprintf(`{"id":%q,"time":%q,"sensor":%q,"protocol":"ssh","kind":"connect","src":{"ip":"203.0.113.9","port":40000},"dst":{"ip":"10.0.0.5","port":22},"honeytoken":%q}`,
			id, now, sensorName, honeytoken)
	}
	var resp BatchResponse
	as.call(t, "POST", "/api/v1/events", edge.Token,
		line("s1", "edge-1/ssh", "HT-forged")+"\n"+line("s2", "edge-2/ssh", "")+"\n"+line("s3", "edge-1", ""), http.StatusOK, &resp)
	if resp.Accepted != 3 {
		t.Fatalf("sensor post: %+v", resp)
	}
	as.call(t, "POST", "/api/v1/events", analyst.Token, line("a1", "edge-2/ssh", "HT-forged"), http.StatusOK, &resp)
	if resp.Accepted != 1 {
		t.Fatalf("analyst post: %+v", resp)
	}
	// Another sensor sending edge-1's ID at the same time does not make
	// edge-1's event a duplicate: each sensor's IDs are its own.
	edge2 := as.addUser(t, "edge-2", RoleSensor)
	as.call(t, "POST", "/api/v1/events", edge2.Token, line("s9", "edge-2/ssh", ""), http.StatusOK, &resp)
	if resp.Accepted != 1 {
		t.Fatalf("edge-2 post: %+v", resp)
	}
	as.call(t, "POST", "/api/v1/events", edge.Token, line("s9", "edge-1/ssh", "")+"\n"+line("edge-1:s1", "edge-1/ssh", ""), http.StatusOK, &resp)
	if resp.Accepted != 1 || resp.Duplicates != 1 || resp.Results[0].ID != "edge-1:s9" {
		t.Fatalf("edge-1 sending edge-2's ID, then a copy of its own s1: %+v", resp)
	}

	for _, tt := range []struct{ id, sensor string }{
		{"edge-1:s1", "edge-1/ssh"},
		{"edge-1:s2", "edge-1/edge-2/ssh"},
		{"edge-1:s3", "edge-1/edge-1"},
		{"a1", "edge-2/ssh"}, // an analyst's word is taken for the sensor and the ID
	} {
		t.Run(tt.id, func(t *testing.T) {
			var page struct {
				Events []intake.Listed `json:"events"`
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				as.call(t, "GET", "/api/v1/events?sensor="+tt.sensor, analyst.Token, "", http.StatusOK, &page)
				if len(page.Events) > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(page.Events) == 0 || page.Events[0].Event == nil || page.Events[0].Event.ID != tt.id {
				t.Fatalf("events of sensor %s: got %+v, want %s", tt.sensor, page.Events, tt.id)
			}
			if h := page.Events[0].Event.Honeytoken; h != "" {
				t.Errorf("event %s: honeytoken %q, want the caller's cleared", tt.id, h)
			}
		})
	}

	// A sensor reads nothing.
	for _, path := range []string{"/api/v1/events", "/api/v1/events/stats", "/log/v1/entries/0", "/api/v1/log/entries", "/api/v1/incidents"} {
		if code, b := as.do(t, "GET", path, edge.Token, "", nil); code != http.StatusForbidden {
			t.Errorf("GET %s as a sensor: got HTTP %d %s, want 403", path, code, b)
		}
	}
	var ae *AuthError
	if _, err := as.srv.AuthenticateAs(context.Background(), "192.0.2.1:1234", "edge-1", edge.Token); !errors.As(err, &ae) || ae.Reason != "token of a sensor" {
		t.Errorf("console sign-in as a sensor: got %v, want an AuthError for a sensor's token", err)
	}
	if p, err := as.srv.AuthenticateAs(context.Background(), "192.0.2.1:1234", "ana", analyst.Token); err != nil || p.Name != "ana" {
		t.Errorf("console sign-in as an analyst: got %+v, %v", p, err)
	}
}

// TestSensorEventsRateLimited: a remote sensor's events get the
// per-source limit local honeypots get — over the burst they are answered
// "limited" (final for the shipper) and summed up in one summary event —
// while an analyst's posts are not limited.
func TestSensorEventsRateLimited(t *testing.T) {
	as := newAuthServer(t)
	edge := as.addUser(t, "edge-1", RoleSensor)
	analyst := as.addUser(t, "ana", RoleAnalyst)
	t0 := time.Now().UTC()
	post := func(token, src, prefix string) (accepted, limited int) {
		for b := range 6 {
			var lines []string
			for i := range 200 {
				n := b*200 + i
				lines = append(lines, eventLineAt(fmt.Sprintf("%s-%d", prefix, n), src, "connect", t0.Add(time.Duration(n)*time.Microsecond)))
			}
			var resp BatchResponse
			as.call(t, "POST", "/api/v1/events", token, strings.Join(lines, "\n"), http.StatusOK, &resp)
			if resp.Rejected+resp.Retry+resp.Duplicates != 0 {
				t.Fatalf("batch %d: %+v", b, resp)
			}
			accepted += resp.Accepted
			limited += resp.Limited
		}
		return accepted, limited
	}
	accepted, limited := post(edge.Token, "203.0.113.66", "flood")
	if accepted != 1000 || limited != 200 {
		t.Fatalf("sensor flood: %d accepted, %d limited; want the burst of 1,000 accepted and the other 200 limited", accepted, limited)
	}
	if a, l := post(analyst.Token, "203.0.113.67", "manual"); a != 1200 || l != 0 {
		t.Errorf("analyst's posts: %d accepted, %d limited; want every one accepted", a, l)
	}
	var page struct {
		Events []intake.Listed `json:"events"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		as.call(t, "GET", "/api/v1/events?source=203.0.113.66&kind=log", testToken, "", http.StatusOK, &page)
		sum := 0
		for _, e := range page.Events {
			if e.Event != nil {
				n, _ := strconv.Atoi(e.Event.Details[intake.RateLimitedDetail])
				sum += n
			}
		}
		if sum == limited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("summary events count %d limited events, the answers said %d: %+v", sum, limited, page.Events)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPostedTimeSourceIgnored: only the server says a time is its own; a
// posted time_source is cleared, and an event posted without a time is
// marked as timed on arrival.
func TestPostedTimeSourceIgnored(t *testing.T) {
	as := newAuthServer(t)
	forged := `{"id":"ts-1","time":"2026-11-28T10:00:00Z","time_source":"arrival","sensor":"edge-1/ssh","protocol":"ssh","kind":"connect","src":{"ip":"203.0.113.70","port":1}}`
	untimed := `{"id":"ts-2","sensor":"edge-1/ssh","protocol":"ssh","kind":"connect","src":{"ip":"203.0.113.70","port":1}}`
	var resp BatchResponse
	as.call(t, "POST", "/api/v1/events", testToken, forged+"\n"+untimed, http.StatusOK, &resp)
	if resp.Accepted != 2 {
		t.Fatalf("post: %+v", resp)
	}
	for i, want := range []string{"", intake.TimeArrival} {
		ent, err := as.srv.Log.Entry(*resp.Results[i].Index)
		if err != nil {
			t.Fatal(err)
		}
		var e sensor.Event
		if err := json.Unmarshal(ent.Payload, &e); err != nil {
			t.Fatal(err)
		}
		if e.TimeSource != want {
			t.Errorf("event %s logged with time_source %q, want %q", e.ID, e.TimeSource, want)
		}
	}
}

// TestSensorLongIDNamespaced: a sensor's ID too long to take its name in
// front is logged under the name and a hash of it, and a copy is still a
// duplicate.
func TestSensorLongIDNamespaced(t *testing.T) {
	as := newAuthServer(t)
	edge := as.addUser(t, "edge-1", RoleSensor)
	long := strings.Repeat("x", intake.MaxID-3)
	line := eventLineAt(long, "203.0.113.71", "connect", eventTime)
	var resp BatchResponse
	as.call(t, "POST", "/api/v1/events", edge.Token, line+"\n"+line, http.StatusOK, &resp)
	if resp.Accepted != 1 || resp.Duplicates != 1 {
		t.Fatalf("a long ID twice: %+v", resp)
	}
	id := resp.Results[0].ID
	if !strings.HasPrefix(id, "edge-1:h-") || len(id) > intake.MaxID {
		t.Errorf("logged as %q (%d bytes), want edge-1:h-… within %d bytes", id, len(id), intake.MaxID)
	}
	if short := namespacedID("edge-1", "ev-1"); short != "edge-1:ev-1" {
		t.Errorf("a short ID: %q, want edge-1:ev-1", short)
	}
}

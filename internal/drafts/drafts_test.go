package drafts

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// hospital is a realistic ransomware case on a hospital's PACS, with NIS2
// and GDPR clocks declared and the NIS2 notification submitted.
func hospital() Case {
	aware := at("2026-03-28T23:30:00Z") // the night DST starts in Rome
	r, _ := incident.LookupRegime("nis2-it")
	g, _ := incident.LookupRegime("gdpr-33")
	subs := map[incident.Ref]incident.Submission{
		{Regime: "nis2-it", Deadline: "notification"}: {Channel: "ACN portal", Reference: "ACN-2026-0412", At: at("2026-03-30T10:00:00Z")},
	}
	now := at("2026-03-31T09:00:00Z")
	clocks := append(incident.ComputeClocks(r, incident.Declared{"": aware}, subs, now, incident.DueSoonWithin),
		incident.ComputeClocks(g, incident.Declared{"": at("2026-03-29T08:00:00Z")}, subs, now, incident.DueSoonWithin)...)
	return Case{
		Incident: incident.Incident{
			ID: "INC-7K2M9Q4XPA", Title: "Ransomware on the PACS",
			Description: "Radiology images encrypted on the PACS servers; ransom note signed LockBit; patients diverted to the nearby hospital.",
			Severity:    incident.Critical, Status: incident.StatusContained, Categories: []string{"ransomware", "IS-3"},
			CreatedBy: "paola", CreatedAt: at("2026-03-28T23:45:00Z"), UpdatedAt: at("2026-03-29T06:00:00Z"),
			CreatedIndex: 41, UpdatedIndex: 58,
		},
		Observables: []incident.Observable{
			{Type: incident.ObsIP, Value: "203.0.113.7", FirstSeen: at("2026-03-28T22:10:00Z"), LastSeen: at("2026-03-28T23:20:00Z"), FirstIndex: 43, LastIndex: 47},
			{Type: incident.ObsWallet, Value: "bc1qexampleexampleexampleexample0", FirstSeen: at("2026-03-29T01:00:00Z"), LastSeen: at("2026-03-29T01:00:00Z"), FirstIndex: 49, LastIndex: 49},
		},
		Notes: []incident.Note{
			{Index: 45, Author: "paola", At: at("2026-03-29T00:30:00Z"), Text: "Initial access through the VPN appliance with a stolen account."},
			{Index: 46, Author: "paola", At: at("2026-03-29T00:35:00Z"), Erased: true},
		},
		Evidence: []incident.EvidenceItem{
			{ID: "EV-3D8F1A0B2C", SHA256: strings.Repeat("ab", 32), Size: 1 << 30, MediaType: "application/octet-stream", Source: "pacs-01 disk image", Method: "dd over write blocker", AcquiredBy: "marco", AcquiredAt: at("2026-03-29T03:00:00Z"), AcquiredIndex: 52},
		},
		Actions: []incident.Action{
			{ID: "ACT-1", State: incident.Verified, Request: guard.Request{Action: guard.Action{Kind: "isolate_host", Target: "pacs-01"}}, UpdatedAt: at("2026-03-29T02:00:00Z"), UpdatedIndex: 51},
			{ID: "ACT-2", State: incident.Failed, Request: guard.Request{Action: guard.Action{Kind: "block_ip", Target: "203.0.113.7"}}, UpdatedAt: at("2026-03-29T02:10:00Z"), UpdatedIndex: 53},
		},
		Clocks: clocks,
		Timeline: []incident.TimelineItem{
			{Index: 41, Time: at("2026-03-28T23:45:00Z"), Kind: "incident.created", Actor: "paola", Summary: "Ransomware on the PACS"},
			{Index: 51, Time: at("2026-03-29T02:00:00Z"), Kind: "action.verified", Actor: "marco", Subject: "ACT-1", Summary: "isolate_host pacs-01"},
		},
	}
}

var now = at("2026-03-31T09:00:00Z")

// TestGolden renders every kind in both languages and formats for the
// hospital case and compares with testdata (go test -update rewrites).
func TestGolden(t *testing.T) {
	for _, kind := range Kinds() {
		for _, lang := range Langs {
			for _, format := range Formats {
				name := kind + "." + lang + "." + format
				t.Run(name, func(t *testing.T) {
					d, err := Render(kind, lang, format, hospital(), now)
					if err != nil {
						t.Fatal(err)
					}
					path := filepath.Join("testdata", name)
					if *update {
						if err := os.WriteFile(path, d.Body, 0o644); err != nil {
							t.Fatal(err)
						}
					}
					want, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(d.Body, want) {
						t.Errorf("got\n%s\nwant (%s)\n%s", d.Body, path, want)
					}
					// Every key must have a string in the language.
					for _, k := range []string{".title", ".channel", ".basis", ".no_clock"} {
						if bytes.Contains(d.Body, []byte(kind+k)) {
							t.Errorf("the draft shows the key %s: add the string to lang.go", kind+k)
						}
					}
				})
			}
		}
	}
}

// TestStrings checks that both languages have the same keys, so that no
// draft shows a bare key.
func TestStrings(t *testing.T) {
	for k := range words["en"] {
		if _, ok := words["it"][k]; !ok {
			t.Errorf("%q has no Italian string", k)
		}
	}
	for k := range words["it"] {
		if _, ok := words["en"][k]; !ok {
			t.Errorf("%q has no English string", k)
		}
	}
	for _, k := range kinds {
		for _, f := range k.Fields {
			if _, ok := words["en"][f.Key]; !ok {
				t.Errorf("kind %s: field %q has no label", k.ID, f.Key)
			}
		}
	}
}

func TestMissing(t *testing.T) {
	t.Run("full case", func(t *testing.T) {
		d, err := Render("nis2-notification", "en", "md", hospital(), now)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"impact"}; !slices.Equal(d.Missing, want) {
			t.Errorf("got missing %v, want %v", d.Missing, want)
		}
		for _, s := range []string{"DRAFT", "ACN/CSIRT Italia", "D.Lgs. 138/2024 art. 25", "2026-04-01 01:30 CEST (72 h after trigger; met)", "203.0.113.7 (", "(log #43)", "[to complete]"} {
			if !strings.Contains(string(d.Body), s) {
				t.Errorf("the draft lacks %q:\n%s", s, d.Body)
			}
		}
	})
	t.Run("bare incident", func(t *testing.T) {
		c := Case{Incident: incident.Incident{ID: "INC-X", Title: "t", CreatedAt: now, CreatedIndex: 3}}
		d, err := Render("gdpr-33", "it", "md", c, now)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"deadline", "aware_at", "description", "subjects", "records", "dpo_contact", "consequences", "measures"}
		if !slices.Equal(d.Missing, want) {
			t.Errorf("got missing %v, want %v", d.Missing, want)
		}
		// Once in the header, once per missing field or deadline.
		if got := strings.Count(string(d.Body), "[da completare]"); got != len(want)+1 {
			t.Errorf("got %d [da completare], want %d:\n%s", got, len(want)+1, d.Body)
		}
	})
	t.Run("late GDPR", func(t *testing.T) {
		c := hospital()
		c.Clocks = slices.DeleteFunc(c.Clocks, func(c incident.Clock) bool { return c.Regime == "gdpr-33" })
		g, _ := incident.LookupRegime("gdpr-33")
		c.Clocks = append(c.Clocks, incident.ComputeClocks(g, incident.Declared{"": at("2026-03-20T08:00:00Z")}, nil, now, 0)...)
		d, err := Render("gdpr-33", "en", "md", c, now)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(d.Missing, "late_reason") {
			t.Errorf("an overdue GDPR notification: got missing %v, want late_reason among them", d.Missing)
		}
	})
	t.Run("crime report without a complaint clock", func(t *testing.T) {
		d, err := Render("crime-report", "en", "md", hospital(), now)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(d.Missing, "deadline") || !strings.Contains(string(d.Body), "without delay (c.p.p. art. 331)") {
			t.Errorf("got missing %v and\n%s\nwant the deadline 'without delay'", d.Missing, d.Body)
		}
	})
}

func TestHTMLEscapes(t *testing.T) {
	c := hospital()
	c.Incident.Title = `<script>alert("x")</script>`
	c.Notes[0].Text = `<img src=x onerror=alert(1)>`
	d, err := Render("nis2-final-report", "en", "html", c, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img"} {
		if bytes.Contains(d.Body, []byte(bad)) {
			t.Errorf("the HTML draft contains %q unescaped:\n%s", bad, d.Body)
		}
	}
	if !bytes.Contains(d.Body, []byte("&lt;script&gt;")) {
		t.Errorf("the HTML draft lacks the escaped title:\n%s", d.Body)
	}
	if d.Title != "NIS2 final report: INC-7K2M9Q4XPA "+c.Incident.Title {
		t.Errorf("got title %q", d.Title)
	}
}

func TestUnknown(t *testing.T) {
	for _, tc := range []struct{ name, kind, lang, format string }{
		{"kind", "dora-initial", "en", "md"},
		{"lang", "gdpr-33", "fr", "md"},
		{"format", "gdpr-33", "en", "pdf"},
		{"empty", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(tc.kind, tc.lang, tc.format, hospital(), now)
			if !errors.Is(err, ErrUnknown) {
				t.Errorf("got %v, want ErrUnknown", err)
			}
		})
	}
}

// TestMarkdownCaseTextIsInert checks that case text cannot become active
// Markdown in a draft: no raw HTML, no link, no new block.
func TestMarkdownCaseTextIsInert(t *testing.T) {
	c := hospital()
	c.Incident.Description = "Seen <script>alert(1)</script> &amp; a [portal](https://evil.example) at C:\\<b>\n# Pwned\n- injected item"
	d, err := Render("nis2-notification", "en", "md", c, at("2026-03-31T09:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	body := string(d.Body)
	// Each of these would be live Markdown; escaped, each has a backslash
	// inside it.
	for _, bad := range []string{"<script>", " &amp;", "portal](", "\n# Pwned", "\n- injected"} {
		if strings.Contains(body, bad) {
			t.Errorf("the draft carries %q as Markdown:\n%s", bad, body)
		}
	}
	want := `Seen \<script\>alert(1)\</script\> \&amp; a [portal\](https://evil.example) at C:\\\<b\> # Pwned - injected item`
	if !strings.Contains(body, want) {
		t.Errorf("the description is not escaped as expected; want %q in:\n%s", want, body)
	}
}

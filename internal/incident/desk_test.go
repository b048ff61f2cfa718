package incident

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestIncidentStatus(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	if inc.Status != StatusOpen || inc.Severity != High || !slices.Equal(inc.Categories, []string{"ransomware"}) {
		t.Fatalf("got %+v, want an open high ransomware incident", inc)
	}
	tests := []struct {
		to   Status
		want error
	}{
		{StatusContained, nil},
		{StatusClosed, nil},
		{StatusContained, &StatusError{}},
		{StatusOpen, nil},
		{"archived", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(string(tc.to), func(t *testing.T) {
			got, err := e.desk.Update(ctx, paola, inc.ID, Update{Status: ptr(tc.to)})
			var se *StatusError
			if tc.want == ErrInvalid {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("got %v, want ErrInvalid", err)
				}
				return
			}
			if tc.want != nil {
				if !errors.As(err, &se) {
					t.Fatalf("got %v, want a StatusError", err)
				}
				return
			}
			if err != nil || got.Status != tc.to {
				t.Fatalf("got %s, %v, want %s", got.Status, err, tc.to)
			}
		})
	}
	bad := []struct {
		name string
		in   NewIncident
	}{
		{"no title", NewIncident{Severity: Low}},
		{"bad severity", NewIncident{Title: "x", Severity: "urgent"}},
		{"control character", NewIncident{Title: "x\x00", Severity: Low}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.desk.Create(ctx, paola, tc.in); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := e.desk.GetIncident(ctx, "INC-NOPE"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestNormalizeObservable(t *testing.T) {
	tests := []struct {
		typ, in, want string
	}{
		{ObsIP, "::ffff:192.0.2.1", "192.0.2.1"},
		{ObsIP, "2001:DB8::1", "2001:db8::1"},
		{ObsDomain, "Evil.Example.", "evil.example"},
		{ObsURL, "HTTPS://Evil.Example/Path?q=1", "https://evil.example/Path?q=1"},
		{ObsHash, strings.Repeat("AB", 32), strings.Repeat("ab", 32)},
		{ObsWallet, "0xABCDEF0123456789abcdef0123456789ABCDEF01", "0xabcdef0123456789abcdef0123456789abcdef01"},
		{ObsWallet, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"},
		{ObsEmail, "Mallory@Evil.Example", "Mallory@evil.example"},
		{ObsAccount, "corp-ad:jdoe", "corp-ad:jdoe"},
		{ObsIP, "300.1.1.1", ""},
		{ObsDomain, "localhost", ""},
		{ObsURL, "/relative", ""},
		{ObsHash, "abc", ""},
		{ObsEmail, "Mallory <m@evil.example>", ""},
		{ObsWallet, "short", ""},
		{"phone", "+39", ""},
	}
	for _, tc := range tests {
		t.Run(tc.typ+" "+tc.in, func(t *testing.T) {
			got, err := NormalizeObservable(tc.typ, tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("got %q, %v, want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v, want %q", got, err, tc.want)
			}
		})
	}
}

func TestObservableMerge(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	t1 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	t0, t2 := t1.Add(-time.Hour), t1.Add(time.Hour)
	for _, in := range []NewObservable{
		{Type: ObsDomain, Value: "C2.Evil.Example", Tags: []string{"c2"}, Seen: t1},
		{Type: ObsDomain, Value: "c2.evil.example.", Tags: []string{"lockbit"}, Seen: t2},
		{Type: ObsDomain, Value: "c2.evil.example", Tags: []string{"c2"}, Seen: t0},
	} {
		if _, err := e.desk.AddObservable(ctx, paola, inc.ID, in); err != nil {
			t.Fatal(err)
		}
	}
	obs, err := e.desk.Observables(ctx, inc.ID)
	if err != nil || len(obs) != 1 {
		t.Fatalf("got %d observables, %v, want 1", len(obs), err)
	}
	o := obs[0]
	if o.Value != "c2.evil.example" || !slices.Equal(o.Tags, []string{"c2", "lockbit"}) || !o.FirstSeen.Equal(t0) || !o.LastSeen.Equal(t2) {
		t.Fatalf("got %+v, want c2.evil.example [c2 lockbit] seen %v to %v", o, t0, t2)
	}
}

func TestCustody(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	inc := mustIncident(t, e.desk)
	sum := strings.Repeat("ab", 32)
	item, err := e.desk.AcquireEvidence(ctx, paola, inc.ID, EvidenceInput{SHA256: strings.ToUpper(sum), Size: 1 << 30, MediaType: "application/octet-stream", Source: "ws7 disk", Tool: "dd 9.1", Method: "bit-stream image"})
	if err != nil {
		t.Fatal(err)
	}
	if item.SHA256 != sum || item.AcquiredBy != "paola" || len(item.Custody) != 1 || item.Custody[0].Step != StepAcquired {
		t.Fatalf("got %+v, want an item acquired by paola with one custody step", item)
	}
	other := strings.Repeat("cd", 32)
	var copyID string
	tests := []struct {
		name string
		c    Custody
		want error
	}{
		{"hash verified", Custody{Step: StepHashVerified, SHA256: sum}, nil},
		{"hash differs", Custody{Step: StepHashVerified, SHA256: other}, ErrHashMismatch},
		{"transfer without hash", Custody{Step: StepTransferred, From: "paola", To: "lab", Medium: "courier", Reference: "AWB-1"}, ErrInvalid},
		{"transfer with another hash", Custody{Step: StepTransferred, From: "paola", To: "lab", Medium: "courier", Reference: "AWB-1", SHA256: other}, ErrHashMismatch},
		{"transfer", Custody{Step: StepTransferred, From: "paola", To: "lab", Medium: "courier", Reference: "AWB-1", SHA256: sum}, nil},
		{"stored", Custody{Step: StepStored, Location: "safe 2", Seal: "S-0042"}, nil},
		{"examined", Custody{Step: StepExamined, Tool: "autopsy 4", Purpose: "timeline"}, nil},
		{"copied", Custody{Step: StepCopied, SHA256: other, Tool: "dd", Size: 1 << 30}, nil},
		{"unknown step", Custody{Step: "lost"}, ErrInvalid},
		{"returned", Custody{Step: StepReturned, To: "owner"}, nil},
		{"destroyed", Custody{Step: StepDestroyed, Note: "degaussed"}, nil},
		{"after destruction", Custody{Step: StepExamined, Tool: "x", Purpose: "y"}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step, err := e.desk.AddCustody(ctx, luca, item.ID, tc.c)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.c.Step == StepCopied && err == nil {
				copyID = step.Detail.Copy
			}
		})
	}
	item, err = e.desk.GetEvidence(ctx, item.ID)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, s := range item.Custody {
		steps = append(steps, s.Step)
	}
	want := []string{StepAcquired, StepHashVerified, StepTransferred, StepStored, StepExamined, StepCopied, StepReturned, StepDestroyed}
	if !slices.Equal(steps, want) || !item.Destroyed || item.Holder != "owner" || item.Seal != "S-0042" {
		t.Fatalf("got steps %v destroyed %v holder %q seal %q, want %v destroyed, owner, S-0042", steps, item.Destroyed, item.Holder, item.Seal, want)
	}
	cp, err := e.desk.GetEvidence(ctx, copyID)
	if err != nil || cp.Parent != item.ID || cp.SHA256 != other || cp.Destroyed {
		t.Fatalf("got copy %+v, %v, want a live copy of %s with sha256 %s", cp, err, item.ID, other)
	}
}

func TestListIncidents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	var want []string
	for i, sev := range []Severity{Low, High, High, Critical, High} {
		inc, err := e.desk.Create(ctx, paola, NewIncident{Title: "case", Severity: sev})
		if err != nil {
			t.Fatal(err)
		}
		if sev == High {
			want = append(want, inc.ID)
		}
		if i == 4 {
			if _, err := e.desk.Update(ctx, paola, inc.ID, Update{Status: ptr(StatusClosed)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	var after int64
	for pages := 0; ; pages++ {
		list, next, err := e.desk.ListIncidents(ctx, Filter{Severity: High}, Page{After: after, Limit: 2})
		if err != nil || pages > 3 {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, i := range list {
			got = append(got, i.ID)
		}
		if next == 0 {
			break
		}
		after = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	closed, _, err := e.desk.ListIncidents(ctx, Filter{Status: StatusClosed}, Page{})
	if err != nil || len(closed) != 1 || closed[0].ID != want[2] {
		t.Fatalf("got %v, %v, want only %s closed", closed, err, want[2])
	}
}

func TestTimeline(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, t.TempDir())
	ev, err := e.log.Append(ctx, eventRecord())
	if err != nil {
		t.Fatal(err)
	}
	inc := mustIncident(t, e.desk)
	if _, err := e.desk.AddNote(ctx, luca, inc.ID, "patient zero is ws7"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.desk.LinkEvents(ctx, luca, inc.ID, []int64{ev.Index}); err != nil {
		t.Fatal(err)
	}
	a := decided(t, e.desk, inc.ID, firewallBlock("192.0.2.7"))
	items, err := e.desk.Timeline(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i, it := range items {
		kinds = append(kinds, it.Kind)
		if i > 0 && it.Time.Before(items[i-1].Time) {
			t.Fatalf("item %d at %v is before item %d at %v", i, it.Time, i-1, items[i-1].Time)
		}
	}
	want := []string{"sensor.event", KindCreated, KindNote, KindEventLink, KindProposed, KindDecided}
	if !slices.Equal(kinds, want) {
		t.Fatalf("got %v, want %v", kinds, want)
	}
	if items[0].Index != ev.Index || items[5].Subject != a.ID {
		t.Fatalf("got event at %d and decision of %s, want %d and %s", items[0].Index, items[5].Subject, ev.Index, a.ID)
	}
	// Linking the desk's own entries is refused.
	if _, err := e.desk.LinkEvents(ctx, luca, inc.ID, []int64{items[1].Index}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("link an incident entry: got %v, want ErrInvalid", err)
	}
}

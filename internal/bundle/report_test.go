package bundle

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
)

// fixedReport is a report with fixed times and IDs, for the golden files.
func fixedReport() ReportData {
	t0 := time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	lt := func(m int) string { return at(m).Format("2006-01-02T15:04:05.000000000Z") }
	ts := time.Date(2026, 3, 14, 10, 5, 0, 0, time.UTC)
	dec := guard.Decision{
		Verdict:     guard.Allow,
		Rules:       []guard.Rule{{ID: "permit-firewall-block-own-device", Kind: "permit", Title: "Block on a firewall we operate"}},
		Citations:   []guard.Citation{{ID: "gdpr-art-6", Title: "GDPR art. 6(1)(f): legitimate interest (network security)"}},
		Obligations: []string{"expiry recommended"},
		Policy:      guard.Policy{Name: "vallum-it", Version: "1.0.0", Digest: "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"},
	}
	return ReportData{
		Incident: incident.Incident{ID: "INC-0000000001", Title: "Ransomware on ws7 <script>", Description: "Encrypted shares; ransom note on the desktop.", Severity: incident.High,
			Status: incident.StatusContained, Categories: []string{"ransomware"}, Assignees: []string{"paola"}, CreatedBy: "paola", CreatedAt: at(0), CreatedIndex: 3},
		Origin: "evidence.acme.example/vallum", VKey: "evidence.acme.example/vallum+01234567+AbCdEf", TreeSize: 40, Root: "h3YOfW41N0bYGoYkyI+54sxXoGFGtldpWVtafxYP054=",
		Created: time.Date(2026, 3, 15, 8, 0, 0, 0, time.UTC), Version: "v1.0.0",
		Verified: &Report{
			Incident: "INC-0000000001", Origin: "evidence.acme.example/vallum", TreeSize: 40, KeyPinned: true, Checkpoints: []int64{12, 40},
			Files: 60, ManifestChecked: true, Complete: true, Packs: []PackInfo{{Digest: "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", Name: "vallum-it", Version: "1.0.0", Decisions: []int64{9}}},
			Checks:  []string{"manifest: 60 files, the SHA-256 of each matches manifest.json and SHA256SUMS", "entries: 9 headers canonical, each leaf hash proven in the signed tree of size 40 (C2SP tlog-proof)"},
			Anchors: []AnchorStatus{{Dir: "anchors/001", Authority: "qtsp-a", TreeSize: 12, Time: ts, Serial: "1f", Signer: "QTSP A TSA 1", ESSCertIDv2: true, Qualified: true, OK: true}},
			Entries: []EntryStatus{
				{Index: 3, Kind: "incident.created", Time: lt(0), Actor: "paola", LeafHash: "q0FjZmVhZmVhZmVhZmVhZmVhZmVhZmVhZmVhZmVhZmU=", AnchorTime: ts, AnchorAuthority: "qtsp-a"},
				{Index: 5, Kind: "incident.note", Time: lt(2), Actor: "paola", LeafHash: "r0FjZmVhZmVhZmVhZmVhZmVhZmVhZmVhZmVhZmVhZmU=", Erased: true, AnchorTime: ts, AnchorAuthority: "qtsp-a"},
				{Index: 20, Kind: "erasure", Time: lt(90), Actor: "dpo/giulia", LeafHash: "s0FjZmVhZmVhZmVhZmVhZmVhZmVhZmVhZmVhZmVhZmU="},
			},
			Erasures: []Erasure{{Index: 5, By: 20, At: lt(90), Actor: "dpo/giulia", Reason: "GDPR art. 17 request 2026-114"}},
		},
		Timeline: []incident.TimelineItem{
			{Index: 3, Time: at(0), Kind: "incident.created", Actor: "paola", Summary: "incident created"},
			{Index: 5, Time: at(2), Kind: "incident.note", Actor: "paola", Erased: true},
			{Index: 8, Time: at(10), Kind: "action.proposed", Actor: "paola", Subject: "ACT-0000000001", Summary: "firewall_block 203.0.113.9"},
			{Index: 10, Time: at(11), Kind: "action.decided", Actor: "paola", Subject: "ACT-0000000001", Summary: "allow"},
			{Index: 13, Time: at(15), Kind: "action.executed", Actor: "marta", Subject: "ACT-0000000001", Summary: "blocked"},
		},
		Actions: []ActionView{{
			Action: incident.Action{ID: "ACT-0000000001", Incident: "INC-0000000001", Request: guard.Request{Action: guard.Action{Kind: "firewall_block", Target: "203.0.113.9"}},
				Proposer: "paola", State: incident.Executed, ProposedAt: at(10), ProposedIndex: 8,
				Approvals: []incident.Approval{{Role: "incident_commander", By: "marta", At: at(12), Receipt: incident.Receipt{Index: 11}}},
				Result:    &incident.Result{Executor: "manual", Summary: "blocked on fw-edge", Reference: "CHG-7"}},
			Decisions: []DecisionView{{Index: 9, Binding: 10, DecidedAt: at(11), Decision: dec}},
			Steps: []incident.TimelineItem{
				{Index: 8, Time: at(10), Kind: "action.proposed", Actor: "paola"},
				{Index: 10, Time: at(11), Kind: "action.decided", Actor: "paola"},
				{Index: 13, Time: at(15), Kind: "action.executed", Actor: "marta"},
			},
		}},
		Clocks: []incident.Clock{
			{Regime: "gdpr-33", Deadline: "notification", Trigger: at(0), Due: at(72 * 60), State: incident.ClockMetLate,
				Submission: &incident.Submission{Channel: "Garante online", Reference: "GPDP-2026-1", At: at(80 * 60), LateReason: "the scope was known only after the forensic copy"}},
			{Regime: "gdpr-34", Deadline: "communication", Trigger: at(0), State: incident.ClockUndelayed, WithoutUndueDelay: true},
		},
		Ransom: incident.RansomTrack{Extortion: true, OpenedBy: "marta", OpenedAt: at(5), Reason: "ransom note",
			Reports: []incident.AuthorityReport{{Index: 7, Authority: "police", Reference: "PP-MI-2026-77", At: at(30), By: "marta"}}},
		Evidence: []incident.EvidenceItem{{ID: "EVD-0000000001", SHA256: strings.Repeat("ab", 32), Size: 1 << 30, MediaType: "application/octet-stream", Source: "ws7", Tool: "avml 0.14",
			Method: "live memory capture", AcquiredBy: "paola", AcquiredAt: at(4), AcquiredIndex: 6, Holder: "marta", Location: "safe 2", Seal: "S-0042",
			Custody: []incident.CustodyStep{{Index: 6, Step: "acquired", Actor: "paola", At: at(4)}, {Index: 7, Step: "stored", Actor: "marta", At: at(6)}}}},
	}
}

func TestReportGolden(t *testing.T) {
	d := fixedReport()
	for _, lang := range []string{"en", "it"} {
		t.Run(lang, func(t *testing.T) {
			got, err := RenderHTML(d, lang)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "report."+lang+".html")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendering (go test ./internal/bundle -run TestReportGolden -update to accept)", path)
			}
			for _, bad := range []string{"<script>", "http://", "https://", "<link", "src="} {
				if bytes.Contains(got, []byte(bad)) {
					t.Errorf("the report holds %q: it must be self-contained and escape its content", bad)
				}
			}
		})
	}
	if _, err := RenderHTML(d, "de"); err == nil {
		t.Error("rendered in an unknown language")
	}
}

// TestReportPDF prints the report with headless Chromium and checks that
// pdftoppm renders its first page, not blank.
func TestReportPDF(t *testing.T) {
	if _, err := FindChromium(""); err != nil {
		t.Skip("chromium is not installed: the PDF report is skipped, as export does")
	}
	if _, err := exec.LookPath("pdftoppm"); err != nil {
		t.Skip("pdftoppm (poppler-utils) is not installed")
	}
	html, err := RenderHTML(fixedReport(), "it")
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := RenderPDF(context.Background(), html, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pf := filepath.Join(dir, "report.pdf")
	os.WriteFile(pf, pdf, 0o600)
	if out, err := exec.Command("pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", pf, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(matches) != 1 {
		t.Fatalf("pdftoppm wrote %v, want one PNG of page 1", matches)
	}
	f, err := os.Open(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	dark := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r+g+bl < 3*0x8000 {
				dark++
			}
		}
	}
	if dark < 200 {
		t.Errorf("page 1 has %d dark pixels: blank", dark)
	}
	if out, err := exec.Command("pdfinfo", pf).Output(); err == nil && !bytes.Contains(out, []byte("Pages:")) {
		t.Errorf("pdfinfo: %s", out)
	}
}

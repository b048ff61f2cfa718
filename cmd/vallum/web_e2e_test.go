package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeConsole runs the real binary and uses its console over HTTP
// as a browser would (cookies, the sign-in form's CSRF token): the console
// is served around the API, the API still answers its own paths, and the
// console's log check has run.
func TestServeConsole(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := get("/")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Fatalf("GET / signed out: %d %q, want a redirect to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := get("/signin?lang=en")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in page:\n%s", page)
	}
	resp, err := c.PostForm(s.url+"/signin", url.Values{"user": {"admin"}, "token": {s.token}, "csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("sign in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, page = get("/")
		if resp.StatusCode == http.StatusOK && strings.Contains(page, "consistent, signature valid") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Now page (%d) does not show the console's log check:\n%s", resp.StatusCode, page)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("the console answers without a Content-Security-Policy")
	}
	// The API is passed through, with its own authentication.
	if resp, _ := get("/api/v1/incidents"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API without a token behind the console: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get("/log/v1/vkey"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /log/v1/vkey: %d", resp.StatusCode)
	}
	if strings.Contains(s.stderr.String(), s.token) {
		t.Error("the admin token reached the server log")
	}
}

// TestServeConsoleDisabled: with web.disabled the server is the API alone.
func TestServeConsoleDisabled(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vallum.yaml")
	if err := os.WriteFile(cfg, []byte("web:\n  disabled: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir, "--config", cfg)
	for _, p := range []string{"/", "/signin", "/static/app.js"} {
		resp, err := httpClient.Get(s.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s with the console disabled: %d, want 404", p, resp.StatusCode)
		}
	}
}

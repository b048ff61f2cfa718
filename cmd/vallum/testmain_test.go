package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/api"
)

// vallumBin is the real binary, built once by TestMain for the tests that
// run it as a user or a script would.
var vallumBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vallum-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	vallumBin = filepath.Join(dir, "vallum")
	if out, err := exec.Command("go", "build", "-o", vallumBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is how a finished command ended.
type result struct {
	code           int
	stdout, stderr string
}

// runBin runs the binary to completion in dir (the test's working
// directory if empty) with stdin, and returns its exit code and streams.
func runBin(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	return runBinEnv(t, nil, dir, stdin, args...)
}

// runBinEnv is runBin with extra environment variables (KEY=value).
func runBinEnv(t *testing.T, env []string, dir, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, vallumBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("vallum %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// watchBuffer collects a process's output and reports the address of the
// server's listening line once it appears.
type watchBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string // receives the listen address once
	sent bool
}

var listeningLine = regexp.MustCompile(`vallum: listening on http://(\S+) `)

func (w *watchBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent && w.addr != nil {
		if m := listeningLine.FindSubmatch(w.buf.Bytes()); m != nil {
			w.sent = true
			w.addr <- string(m[1])
		}
	}
	return len(p), nil
}

func (w *watchBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// server is a running `vallum serve` process.
type server struct {
	t      *testing.T
	cmd    *exec.Cmd
	url    string // http://host:port
	data   string // data directory, absolute
	token  string
	stdout *watchBuffer
	stderr *watchBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before done is closed
}

// startServer runs `vallum serve --listen 127.0.0.1:0 args…` in dir (the
// data directory is dir/vallum-data unless args has --data), waits for its
// listening line and for /healthz, and kills it at the end of the test if
// it is still running.
func startServer(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	s := &server{
		t:      t,
		stdout: &watchBuffer{addr: make(chan string, 1)},
		stderr: &watchBuffer{},
		done:   make(chan struct{}),
		data:   filepath.Join(dir, "vallum-data"),
	}
	for i, a := range args {
		if a == "--data" && i+1 < len(args) {
			s.data = args[i+1]
			if !filepath.IsAbs(s.data) {
				s.data = filepath.Join(dir, s.data)
			}
		}
	}
	s.cmd = exec.Command(vallumBin, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("couldn't start vallum serve: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("server stderr:\n%s", s.stderr.String())
		}
	})
	select {
	case addr := <-s.stdout.addr:
		s.url = "http://" + addr
	case <-s.done:
		t.Fatalf("vallum serve exited before listening: %v\nstdout:\n%s\nstderr:\n%s", s.err, s.stdout, s.stderr)
	case <-time.After(15 * time.Second):
		t.Fatalf("vallum serve didn't print its listening line within 15s\nstdout:\n%s\nstderr:\n%s", s.stdout, s.stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := httpClient.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz didn't answer 200 within 10s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(s.data, api.TokenFile))
	if err != nil {
		t.Fatalf("couldn't read the admin token: %v", err)
	}
	s.token = strings.TrimSpace(string(tok))
	return s
}

// exited reports whether the process has exited.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the process and waits for it.
func (s *server) kill() {
	if s.exited() {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// stop sends sig and returns the exit code, failing the test if the
// process doesn't exit within 10s.
func (s *server) stop(sig os.Signal) int {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("couldn't signal the server: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.kill()
		s.t.Fatalf("server didn't exit within 10s of %v\nstderr:\n%s", sig, s.stderr)
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	if s.err != nil {
		s.t.Fatalf("waiting for the server: %v", s.err)
	}
	return 0
}

// httpClient is shared by the tests; one client reuses connections.
var httpClient = &http.Client{Timeout: 30 * time.Second}

// request sends a request to the server, with the admin token if auth,
// and returns the status and body.
func (s *server) request(method, path string, body []byte, auth bool) (int, []byte, error) {
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// analyst adds a user with the analyst role and returns a function that
// calls the API with that user's token and fails the test unless the
// answer has the status wanted.
func (s *server) analyst(name string) func(method, path, body string, want int) []byte {
	s.t.Helper()
	code, b, err := s.request("POST", "/api/v1/users", []byte(`{"name":"`+name+`","roles":["analyst"]}`), true)
	if err != nil || code != http.StatusCreated {
		s.t.Fatalf("add user: HTTP %d %s %v", code, b, err)
	}
	var u struct{ Token string }
	json.Unmarshal(b, &u)
	return func(method, path, body string, want int) []byte {
		s.t.Helper()
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+u.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			s.t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			s.t.Fatalf("%s %s: HTTP %d %s, want %d", method, path, resp.StatusCode, out, want)
		}
		return out
	}
}

// get GETs path and fails the test unless the answer is 200.
func (s *server) get(path string, auth bool) []byte {
	s.t.Helper()
	code, b, err := s.request(http.MethodGet, path, nil, auth)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	if code != http.StatusOK {
		s.t.Fatalf("GET %s: got HTTP %d, want 200: %s", path, code, b)
	}
	return b
}

// logSize returns /healthz's log_size.
func (s *server) logSize() int64 {
	s.t.Helper()
	var h struct {
		OK      bool  `json:"ok"`
		LogSize int64 `json:"log_size"`
	}
	if err := json.Unmarshal(s.get("/healthz", false), &h); err != nil || !h.OK {
		s.t.Fatalf("GET /healthz: %v (ok %v)", err, h.OK)
	}
	return h.LogSize
}

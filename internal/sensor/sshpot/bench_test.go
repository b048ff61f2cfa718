package sshpot

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vallum/vallum/internal/sensor"
)

// benchConfig is the honeypot under benchmark: an Ed25519 host key only,
// every password accepted, limits wide enough for one loopback source.
func benchConfig() Config {
	return Config{
		HostKeys: []string{"ed25519"},
		Accept:   Accept{Policy: PolicyAny},
		Limits:   sensor.Limits{MaxConns: 30000, MaxConnsPerSource: 30000, IdleTimeout: 10 * time.Minute},
	}
}

// benchClientConfig is a Go x/crypto/ssh client with its default
// algorithm preferences: against the default persona it negotiates what
// OpenSSH, libssh (hydra) and paramiko clients do, curve25519-sha256
// with an Ed25519 host key (mlkem768x25519-sha256, the Go client's first
// choice, is not offered by OpenSSH 8.9/9.2). VALLUM_SSHPOT_CLIENT_KEX
// (a comma-separated list) overrides the client's key exchanges, to
// measure another one a real client may negotiate (ecdh-sha2-nistp256).
func benchClientConfig() *ssh.ClientConfig {
	cfg := &ssh.ClientConfig{
		User:              "root",
		Auth:              []ssh.AuthMethod{ssh.Password("123456")},
		HostKeyCallback:   ssh.InsecureIgnoreHostKey(),
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           30 * time.Second,
	}
	if k := os.Getenv("VALLUM_SSHPOT_CLIENT_KEX"); k != "" {
		cfg.KeyExchanges = strings.Split(k, ",")
	}
	return cfg
}

// handshake dials, completes the SSH handshake with one password
// authentication, and hangs up.
func handshake(addr string, cfg *ssh.ClientConfig) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	conn, chans, reqs, err := ssh.NewClientConn(c, addr, cfg)
	if err != nil {
		return err
	}
	go ssh.DiscardRequests(reqs)
	go func() {
		for nc := range chans {
			nc.Reject(ssh.Prohibited, "")
		}
	}()
	return conn.Close()
}

type discard struct{}

// stackHist, when a diagnostic build links it in (a runtime patched with
// go build -overlay: testdata/stackhist/overlay.sh), returns the
// goroutines by start function and stack size; the child prints it after
// its stats.
var stackHist func() map[string]int

func (discard) Emit(sensor.Event) {}

// BenchmarkHandshakeAuth measures SSH handshakes with one password
// authentication per second, clients and server in this process (so the
// clients' CPU is counted against the server's).
func BenchmarkHandshakeAuth(b *testing.B) {
	srv, err := New(benchConfig(), sensor.Env{Sink: discard{}, Dir: b.TempDir(), Budget: sensor.NewBudget(256 << 20)})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.ServeListener(ctx, ln)
	cfg := benchClientConfig()
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := handshake(ln.Addr().String(), cfg); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "handshakes/s")
}

// The tests below run the honeypot in a child process (this test binary
// run again with VALLUM_SSHPOT_CHILD=1), so that its memory and CPU are
// measured apart from the clients'. They are skipped unless asked for:
//
//	VALLUM_SSHPOT_SESSIONS=10000 go test -run TestHeldSessionsMemory -v -timeout 30m ./internal/sensor/sshpot/
//	VALLUM_SSHPOT_HANDSHAKES=20000 go test -run TestHandshakeServerCPU -v ./internal/sensor/sshpot/

// TestChildServer is the child: it serves on loopback, prints its
// address, and answers "stats" lines on stdin with its memory.
func TestChildServer(t *testing.T) {
	if os.Getenv("VALLUM_SSHPOT_CHILD") != "1" {
		t.Skip("the benchmark child; run by TestHeldSessionsMemory and TestHandshakeServerCPU")
	}
	if os.Getenv("VALLUM_SSHPOT_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 64
	}
	srv, err := New(benchConfig(), sensor.Env{Sink: discard{}, Dir: t.TempDir(), Budget: sensor.NewBudget(256 << 20)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.ServeListener(ctx, ln)
	if p := os.Getenv("VALLUM_SSHPOT_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "goroutines "); ok {
			if f, err := os.Create(p); err == nil {
				pprof.Lookup("goroutine").WriteTo(f, 1)
				f.Close()
			}
			continue
		}
		if p, ok := strings.CutPrefix(sc.Text(), "heap "); ok {
			if f, err := os.Create(p); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
			continue
		}
		switch sc.Text() {
		case "stats":
			var m runtime.MemStats
			// Steady state: a few collections (which also shrink stacks
			// grown during the handshakes) as a running server has them.
			for range envInt("VALLUM_SSHPOT_GCS") + 3 {
				runtime.GC()
			}
			time.Sleep(time.Second)
			rss := vmRSS()
			runtime.ReadMemStats(&m)
			debug.FreeOSMemory()
			fmt.Printf("STATS rss_kb=%d rss_after_gc_kb=%d heap_inuse=%d stack_inuse=%d sys=%d goroutines=%d conns=%d heap_alloc=%d heap_idle=%d heap_released=%d gc_sys=%d mspan_sys=%d other_sys=%d\n",
				rss, vmRSS(), m.HeapInuse, m.StackInuse, m.Sys, runtime.NumGoroutine(), srv.gate.Held(),
				m.HeapAlloc, m.HeapIdle, m.HeapReleased, m.GCSys, m.MSpanSys, m.OtherSys)
			if stackHist != nil {
				for k, n := range stackHist() {
					if n >= 100 {
						fmt.Fprintf(os.Stderr, "STACKS %6d %s\n", n, k)
					}
				}
			}
		}
	}
}

func vmRSS() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

type child struct {
	cmd  *exec.Cmd
	addr string
	in   io.Writer
	out  *bufio.Scanner
}

func startChild(t *testing.T) *child {
	t.Helper()
	raiseNoFile(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildServer$", "-test.v")
	cmd.Env = append(os.Environ(), "VALLUM_SSHPOT_CHILD=1")
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	for c.out.Scan() {
		if a, ok := strings.CutPrefix(c.out.Text(), "ADDR "); ok {
			c.addr = a
			return c
		}
	}
	t.Fatal("the child server did not start")
	return nil
}

func (c *child) stats(t *testing.T) string {
	fmt.Fprintln(c.in, "stats")
	for c.out.Scan() {
		if s, ok := strings.CutPrefix(c.out.Text(), "STATS "); ok {
			return s
		}
	}
	t.Fatal("no stats from the child")
	return ""
}

// cpu returns the child's user and system CPU time so far.
func (c *child) cpu(t *testing.T) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func raiseNoFile(t *testing.T) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		t.Logf("RLIMIT_NOFILE %d", l.Cur)
	}
}

func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

// TestHandshakeServerCPU measures the child server's CPU per handshake
// with one password authentication, and the rate reached with clients
// in this process.
func TestHandshakeServerCPU(t *testing.T) {
	n := envInt("VALLUM_SSHPOT_HANDSHAKES")
	if n == 0 {
		t.Skip("set VALLUM_SSHPOT_HANDSHAKES=N to measure")
	}
	c := startChild(t)
	cfg := benchClientConfig()
	for range 50 { // warm up
		handshake(c.addr, cfg)
	}
	cpu0, start := c.cpu(t), time.Now()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if handshake(c.addr, cfg) != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), c.cpu(t)-cpu0
	c.in.(io.Closer).Close() // ends the child, writing its profile
	c.cmd.Wait()
	t.Logf("%d handshakes+auth in %v: %.0f/s with the clients on the same %d CPUs; server CPU %.0f µs each, so %.0f/s per server core; %d failed",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), runtime.NumCPU(),
		float64(cpu.Microseconds())/float64(n), float64(n)/cpu.Seconds(), failed.Load())
}

// TestHeldSessionsMemory opens N interactive sessions (pty and shell,
// each at its prompt) to the child server and reports its memory.
func TestHeldSessionsMemory(t *testing.T) {
	n := envInt("VALLUM_SSHPOT_SESSIONS")
	if n == 0 {
		t.Skip("set VALLUM_SSHPOT_SESSIONS=N to measure")
	}
	c := startChild(t)
	t.Logf("idle server: %s", c.stats(t))
	cfg := benchClientConfig()
	var clients []*ssh.Client
	var mu sync.Mutex
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				var cl *ssh.Client
				var err error
				if os.Getenv("VALLUM_SSHPOT_NOSHELL") != "" {
					cl, err = ssh.Dial("tcp", c.addr, cfg)
				} else {
					cl, err = openShell(c.addr, cfg)
				}
				if err != nil {
					if failed.Add(1) < 5 {
						t.Log(err)
					}
					continue
				}
				mu.Lock()
				clients = append(clients, cl)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d sessions held (%d failed) after %v", len(clients), failed.Load(), time.Since(start).Round(time.Second))
	time.Sleep(2 * time.Second)
	s := c.stats(t)
	t.Logf("server with %d sessions: %s", len(clients), s)
	var rss int
	fmt.Sscanf(s, "rss_kb=%d", &rss)
	t.Logf("%.1f KiB RSS per session (RSS %d MiB)", float64(rss)/float64(max(len(clients), 1)), rss/1024)
	if p := os.Getenv("VALLUM_SSHPOT_HEAPPROFILE"); p != "" {
		fmt.Fprintln(c.in, "heap "+p)
		fmt.Fprintln(c.in, "goroutines "+p+".goroutines")
		c.stats(t)
	}
	for _, cl := range clients {
		cl.Close()
	}
}

// openShell opens an interactive session and waits for its prompt.
func openShell(addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	cl, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	sess, err := cl.NewSession()
	if err == nil {
		err = sess.RequestPty("xterm", 24, 80, nil)
	}
	var out io.Reader
	if err == nil {
		// An open stdin, as a terminal's: without it the client sends EOF
		// and the shell logs out, as bash would.
		_, err = sess.StdinPipe()
	}
	if err == nil {
		out, err = sess.StdoutPipe()
	}
	if err == nil {
		err = sess.Shell()
	}
	if err == nil {
		buf := make([]byte, 4096)
		var got []byte
		for !strings.HasSuffix(string(got), "# ") && err == nil {
			var k int
			k, err = out.Read(buf)
			got = append(got, buf[:k]...)
		}
	}
	if err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

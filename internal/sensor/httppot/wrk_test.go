package httppot

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// The wrk comparison measures the honeypot against the machine's own
// ceiling: a bare net/http server answering the same page, run in its own
// process and driven by the same wrk command just before or after. Run it
// with
//
//	VALLUM_HTTPPOT_WRK=1 go test -run TestWrk -v -count 1 ./internal/sensor/httppot/
//
// Optional: VALLUM_HTTPPOT_WRK_ROUNDS (default 1) alternates the two
// servers that many times; VALLUM_HTTPPOT_WRK_ARGS replaces the wrk
// arguments (default "-t2 -c64 -d10s"); VALLUM_HTTPPOT_WRK_LIMITS=1 also
// runs a third child, the bare handler inside the honeypot's listener,
// limits and timeouts (what they cost apart from recording);
// VALLUM_HTTPPOT_WRK_CLOSE=1 sends
// "Connection: close" (one request per connection, as most scanners do,
// which measures the per-connection costs); VALLUM_HTTPPOT_WRK_CPUPROFILE=DIR
// writes each child's CPU profile to DIR/{bare,pot}-N.cpu. The test
// prints the rates and never asserts a speed: on a shared machine they
// depend on what else runs. It fails only if the honeypot child did not
// record one event per request it answered.

// wrkPath is what both servers are asked for: the WordPress login page.
const wrkPath = "/wp-login.php"

// TestWrkChild is the child: VALLUM_HTTPPOT_WRK_CHILD=bare serves the page
// with plain net/http, =pot with the honeypot into a counting sink,
// =limits with the bare handler inside the honeypot's server. It
// prints its address, serves until stdin closes, then prints what it
// answered and the CPU time it used while serving.
func TestWrkChild(t *testing.T) {
	mode := os.Getenv("VALLUM_HTTPPOT_WRK_CHILD")
	if mode == "" {
		t.Skip("the wrk child; run by TestWrk")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	sink := &countSink{}
	var answered func() int64
	switch mode {
	case "bare":
		srv, n := bareServer()
		go func() { srv.Serve(ln); close(done) }()
		context.AfterFunc(ctx, func() { srv.Close() })
		answered = n.Load
	case "limits":
		// The honeypot's listener, limits and timeouts around the bare
		// handler: what they cost apart from recording.
		s, err := New(Config{Limits: sensor.Limits{MaxConnsPerSource: 1024}}, sensor.Env{Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		srv, n := bareServer()
		s.srv.Handler = srv.Handler
		go func() { s.ServeListeners(ctx, []net.Listener{ln}, nil); close(done) }()
		answered = n.Load
	case "pot":
		// Every request an event: the per-connection event cap (1,000 by
		// default) would otherwise leave wrk's long keep-alive
		// connections counted, not emitted, after their first thousand.
		s, err := New(Config{Limits: sensor.Limits{MaxConnsPerSource: 1024, MaxEvents: math.MaxInt32}}, sensor.Env{Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		go func() { s.ServeListeners(ctx, []net.Listener{ln}, nil); close(done) }()
		answered = s.requests.Load
	default:
		t.Fatalf("VALLUM_HTTPPOT_WRK_CHILD=%q: want bare or pot", mode)
	}
	if p := os.Getenv("VALLUM_HTTPPOT_WRK_CHILD_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	cpu0 := cpuTime()
	fmt.Printf("ADDR %s\n", ln.Addr())
	bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	cpu := cpuTime() - cpu0
	cancel()
	<-done
	fmt.Printf("DONE answered=%d events=%d cpu_ns=%d\n", answered(), sink.n.Load(), cpu.Nanoseconds())
}

// bareServer is plain net/http answering wrkPath's page (the same bytes and
// Content-Type the honeypot sends) and counting requests.
func bareServer() (*http.Server, *atomic.Int64) {
	page := []byte(wpLoginPage.body)
	n := &atomic.Int64{}
	return &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.Write(page)
	})}, n
}

// TestWrk runs the bare and the honeypot child one after the other under
// wrk and prints both rates, their ratio and each child's CPU per request.
func TestWrk(t *testing.T) {
	if os.Getenv("VALLUM_HTTPPOT_WRK") == "" {
		t.Skip("set VALLUM_HTTPPOT_WRK=1 to measure with wrk")
	}
	needProgram(t, "wrk")
	args := strings.Fields("-t2 -c64 -d10s")
	if a := os.Getenv("VALLUM_HTTPPOT_WRK_ARGS"); a != "" {
		args = strings.Fields(a)
	}
	rounds := 1
	if r, err := strconv.Atoi(os.Getenv("VALLUM_HTTPPOT_WRK_ROUNDS")); err == nil && r > 0 {
		rounds = r
	}
	profDir := os.Getenv("VALLUM_HTTPPOT_WRK_CPUPROFILE")
	for i := range rounds {
		modes := []string{"bare", "pot"}
		if os.Getenv("VALLUM_HTTPPOT_WRK_LIMITS") != "" {
			modes = append(modes, "limits")
		}
		var rate [3]float64
		for j, mode := range modes {
			prof := ""
			if profDir != "" {
				prof = fmt.Sprintf("%s/%s-%d.cpu", profDir, mode, i+1)
			}
			r := runWrk(t, mode, prof, args)
			rate[j] = r.rate
			t.Logf("round %d %-6s: %8.0f req/s (wrk %s), child answered %d, %d events, %.1f µs CPU per request",
				i+1, mode, r.rate, strings.Join(args, " "), r.answered, r.events, r.cpuPerReq)
			if mode == "pot" && r.events != r.answered {
				t.Errorf("honeypot child: %d events for %d requests answered", r.events, r.answered)
			}
		}
		t.Logf("round %d: honeypot/bare = %.3f", i+1, rate[1]/rate[0])
		if rate[2] > 0 {
			t.Logf("round %d: limits/bare = %.3f", i+1, rate[2]/rate[0])
		}
	}
}

type wrkResult struct {
	rate             float64
	answered, events int64
	cpuPerReq        float64 // µs of the child's CPU per answered request
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

func runWrk(t *testing.T, mode, cpuprofile string, args []string) wrkResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^TestWrkChild$", "-test.count=1")
	child.Env = append(os.Environ(), "VALLUM_HTTPPOT_WRK_CHILD="+mode, "VALLUM_HTTPPOT_WRK_CHILD_CPUPROFILE="+cpuprofile)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Wait()
	defer stdin.Close()
	out := bufio.NewScanner(stdout)
	addr := ""
	for addr == "" && out.Scan() {
		addr, _ = strings.CutPrefix(out.Text(), "ADDR ")
	}
	if addr == "" {
		t.Fatalf("%s child printed no address", mode)
	}
	args = append(args[:len(args):len(args)], "-H", "User-Agent: Mozilla/5.0 (wrk)")
	if os.Getenv("VALLUM_HTTPPOT_WRK_CLOSE") != "" {
		args = append(args, "-H", "Connection: close")
	}
	wrk := exec.Command("wrk", append(args, "http://"+addr+wrkPath)...)
	wout, err := wrk.CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, wout)
	}
	m := wrkRate.FindSubmatch(wout)
	if m == nil {
		t.Fatalf("no rate in wrk's output:\n%s", wout)
	}
	var r wrkResult
	r.rate, _ = strconv.ParseFloat(string(m[1]), 64)
	if strings.Contains(string(wout), "Non-2xx") || strings.Contains(string(wout), "Socket errors") {
		t.Logf("wrk reported errors:\n%s", wout)
	}
	stdin.Close()
	var cpuNs int64
	for out.Scan() {
		if _, err := fmt.Sscanf(out.Text(), "DONE answered=%d events=%d cpu_ns=%d", &r.answered, &r.events, &cpuNs); err == nil {
			break
		}
	}
	if r.answered > 0 {
		r.cpuPerReq = float64(time.Duration(cpuNs).Microseconds()) / float64(r.answered)
	}
	return r
}

package httppot

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// countSink is a fast in-memory sink: it counts events.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Emit(sensor.Event) { s.n.Add(1) }

// slowSink stands for a pipeline whose consumer is slow (a stalled disk,
// an unreachable server): Emit queues into a bounded buffer without
// waiting, a consumer takes one event per millisecond, and what doesn't
// fit is dropped and counted (the Sink contract: never block the decoy).
type slowSink struct {
	q       chan sensor.Event
	dropped atomic.Int64
	handled atomic.Int64
	stop    chan struct{}
}

func newSlowSink() *slowSink {
	s := &slowSink{q: make(chan sensor.Event, 4096), stop: make(chan struct{})}
	go func() {
		for {
			select {
			case <-s.stop:
				return
			case <-s.q:
				time.Sleep(time.Millisecond)
				s.handled.Add(1)
			}
		}
	}()
	return s
}

func (s *slowSink) Emit(e sensor.Event) {
	select {
	case s.q <- e:
	default:
		s.dropped.Add(1)
	}
}

// benchServe serves the honeypot on loopback for a benchmark.
func benchServe(b *testing.B, sink sensor.Sink) string {
	b.Helper()
	// Every request an event: the per-connection event cap (1,000 by
	// default) would otherwise count, not emit, all but the first
	// thousand requests of each of the benchmark's long connections.
	s, err := New(Config{Limits: sensor.Limits{MaxConnsPerSource: 1024, MaxEvents: math.MaxInt32}}, sensor.Env{Sink: sink})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.ServeListeners(ctx, []net.Listener{ln}, nil); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// load runs b.N requests over keep-alive connections, b.RunParallel
// goroutines each with its own connection (GOMAXPROCS × 16), reading
// each answer before sending the next, and reports requests per second.
func load(b *testing.B, addr string) {
	req := []byte("GET /wp-login.php HTTP/1.1\r\nHost: blog.example\r\nUser-Agent: Mozilla/5.0 (bench)\r\nAccept: */*\r\n\r\n")
	b.SetParallelism(16)
	b.ReportAllocs()
	cpu0 := cpuTime()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		r := bufio.NewReaderSize(c, 16<<10)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if err := readResponse(r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	// On a shared machine the rate depends on what else runs; the CPU
	// time per request (this process: honeypot and load generator
	// together) does much less.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/req")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readResponse reads one HTTP/1.1 response with a Content-Length.
func readResponse(r *bufio.Reader) error {
	n := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return io.ErrUnexpectedEOF
	}
	_, err := r.Discard(n)
	return err
}

// BenchmarkHTTP measures the honeypot's request rate, every request an
// event, into a fast in-memory sink.
func BenchmarkHTTP(b *testing.B) {
	sink := &countSink{}
	addr := benchServe(b, sink)
	load(b, addr)
	if got := sink.n.Load(); got < int64(b.N) {
		b.Fatalf("%d events for %d requests", got, b.N)
	}
}

// BenchmarkHTTPSlowSink is BenchmarkHTTP with a sink that handles 1,000
// events per second: the request rate stays the same and the sink counts
// what it dropped.
func BenchmarkHTTPSlowSink(b *testing.B) {
	sink := newSlowSink()
	defer close(sink.stop)
	addr := benchServe(b, sink)
	load(b, addr)
	b.ReportMetric(float64(sink.dropped.Load()), "dropped")
	b.ReportMetric(float64(sink.handled.Load()), "handled")
}

// BenchmarkBareNetHTTP is the baseline on the same machine at the same
// time: a net/http server answering the same page with nothing recorded.
// The honeypot's cost is the difference to BenchmarkHTTP.
func BenchmarkBareNetHTTP(b *testing.B) {
	page := []byte(wpLogin(""))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(page)))
		w.Write(page)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	load(b, ln.Addr().String())
}

// BenchmarkHandler is the honeypot's own cost per request, without the
// network and net/http's parsing: record the event, answer the login
// page.
func BenchmarkHandler(b *testing.B) {
	sink := &countSink{}
	s, err := New(Config{Limits: everyEvent}, sensor.Env{Sink: sink})
	if err != nil {
		b.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "/wp-login.php", nil)
	req = req.WithContext(benchConnContext(s))
	req.RemoteAddr = "203.0.113.9:40000"
	req.RequestURI = "/wp-login.php"
	req.Header.Set("User-Agent", "Mozilla/5.0 (bench)")
	req.Header.Set("Accept", "*/*")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		clear(w.h)
		s.ServeHTTP(w, req)
	}
	reportCPU(b, cpu0)
}

// reportCPU reports the CPU time per operation since cpu0 (this process,
// garbage collection included): on a loaded machine it varies much less
// than ns/op, which counts the time other processes had the CPU.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkHandlerNotFound is BenchmarkHandler for what scanners mostly
// get: a path with no bait, answered with Apache's 404 page naming the
// request's host, and a browser's worth of headers to record.
func BenchmarkHandlerNotFound(b *testing.B) {
	benchHandler(b, "GET", "/backup/db.sql.gz", "", map[string]string{
		"Host":            "203.0.113.80:8080",
		"User-Agent":      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Accept":          "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"Accept-Encoding": "gzip, deflate",
		"Accept-Language": "en-US,en;q=0.9",
		"Connection":      "keep-alive",
		"X-Forwarded-For": "198.51.100.7",
	})
}

// BenchmarkHandlerLogin is BenchmarkHandler for a posted WordPress login:
// the body is read and hashed, and a second (auth) event carries the
// credentials.
func BenchmarkHandlerLogin(b *testing.B) {
	benchHandler(b, "POST", "/wp-login.php", "log=admin&pwd=Summer2024%21&wp-submit=Log+In&redirect_to=%2Fwp-admin%2F&testcookie=1", map[string]string{
		"Host":         "blog.example",
		"User-Agent":   "Mozilla/5.0 (bench)",
		"Content-Type": "application/x-www-form-urlencoded",
	})
}

func benchHandler(b *testing.B, method, path, body string, header map[string]string) {
	sink := &countSink{}
	s, err := New(Config{CaptureBodies: new(bool), Limits: everyEvent}, sensor.Env{Sink: sink})
	if err != nil {
		b.Fatal(err)
	}
	var raw strings.Builder
	fmt.Fprintf(&raw, "%s %s HTTP/1.1\r\n", method, path)
	for k, v := range header {
		fmt.Fprintf(&raw, "%s: %s\r\n", k, v)
	}
	fmt.Fprintf(&raw, "Content-Length: %d\r\n\r\n%s", len(body), body)
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw.String())))
	if err != nil {
		b.Fatal(err)
	}
	req.RemoteAddr = "203.0.113.9:40000"
	req = req.WithContext(benchConnContext(s))
	// The same request each time, its body read again from the start.
	br := strings.NewReader(body)
	req.Body = io.NopCloser(br)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		br.Reset(body)
		clear(w.h)
		s.ServeHTTP(w, req)
	}
	reportCPU(b, cpu0)
}

// everyEvent lifts the per-connection event cap (1,000 by default), so
// that a benchmark's requests on one connection are all emitted.
var everyEvent = sensor.Limits{MaxEvents: math.MaxInt32}

// benchConnContext is the context of a request on a connection accepted
// by Serve: what is made once per connection (its session, endpoints and
// event cap) is not the requests' cost.
func benchConnContext(s *Server) context.Context {
	return s.connContext(context.Background(), fakeAddrConn{&net.TCPConn{}})
}

type fakeAddrConn struct{ *net.TCPConn }

func (fakeAddrConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 40000}
}
func (fakeAddrConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 80), Port: 80} }

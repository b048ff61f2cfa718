package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/spool"
)

// TestDurableHTTPRate measures the HTTP honeypot inside `vallum serve`
// with every request an event durably in the evidence log: wrk drives
// the honeypot for VALLUM_BENCH_HTTP seconds, the server is stopped, and
// the log is read back offline to count the events. The bare net/http
// ceiling of the same machine is measured by
// internal/sensor/httppot's VALLUM_HTTPPOT_WRK test. It is skipped
// unless asked for:
//
//	VALLUM_BENCH_HTTP=10 go test -run TestDurableHTTPRate -v ./cmd/vallum/
func TestDurableHTTPRate(t *testing.T) {
	secs, _ := strconv.Atoi(os.Getenv("VALLUM_BENCH_HTTP"))
	if secs <= 0 {
		t.Skip("set VALLUM_BENCH_HTTP=SECONDS to measure")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skipf("needs wrk: %v", err)
	}
	dir := t.TempDir()
	addr := "127.0.0.1:" + freePort(t)
	cfg := filepath.Join(dir, "vallum.yaml")
	// Limits wide enough that one loopback source with 64 keep-alive
	// connections has every request recorded as an event.
	os.WriteFile(cfg, fmt.Appendf(nil, `sensors:
  name: bench
  http:
    enabled: true
    listen: [%q]
    limits: {max_conns: 4096, max_conns_per_source: 4096, max_events: 100000000}
intake:
  per_source_rate: {disabled: true}
`, addr), 0o600)
	srv := startServer(t, dir, "--config", cfg)
	waitPort(t, addr)
	out, err := exec.Command(wrk, "-t2", "-c64", fmt.Sprintf("-d%ds", secs), "http://"+addr+"/wp-login.php").CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	t.Logf("wrk:\n%s", out)
	m := regexp.MustCompile(`(\d+) requests in ([\d.]+)s`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no request count in wrk's output")
	}
	requests, _ := strconv.Atoi(string(m[1]))
	elapsed, _ := strconv.ParseFloat(string(m[2]), 64)
	stopAt := time.Now()
	srv.stop(syscall.SIGTERM)
	t.Logf("server stopped in %v", time.Since(stopAt).Round(time.Millisecond))
	// Events still queued at the stop wait in the spool for the next
	// start: counted, not lost.
	sp, err := spool.Open(filepath.Join(srv.data, intakeSpoolDir), spool.Config{})
	if err != nil {
		t.Fatal(err)
	}
	spooled := sp.Stats().Events
	sp.Close()
	ids, events := logEvents(t, srv.data)
	dups := 0
	for _, n := range ids {
		if n > 1 {
			dups++
		}
	}
	http := 0
	for _, e := range events {
		if e.Sensor == "bench/http" && e.Kind == sensor.KindRequest {
			http++
		}
	}
	t.Logf("%d requests in %.1fs: %.0f req/s; %d request events in the log and %d events in the spool for the next start (%.1f%% of the requests), %d logged twice",
		requests, elapsed, float64(requests)/elapsed, http, spooled, 100*float64(http+int(spooled))/float64(max(requests, 1)), dups)
}

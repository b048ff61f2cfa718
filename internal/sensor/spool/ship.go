package spool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vallum/vallum/internal/sensor"
)

// Shipper is a remote sensor's sink: every event is first written to the
// disk spool, and a shipping loop posts the spool's events in batches to
// the server's POST /api/v1/events, acknowledging a batch only once the
// server has answered every event of it as final (accepted, duplicate or
// rejected). While the server is unreachable or answers "retry", the
// batch is sent again with exponential backoff; the server logs each
// event ID once, so a batch sent twice is not logged twice.
//
// Overflow: when the spool is full, new events are dropped and counted;
// the count is logged for the operator and shipped to the server as a
// "log" event of the sensor "<name>/spool" once there is room.
type Shipper struct {
	Spool *Spool
	// Server is the server's base URL (https://host:port).
	Server string
	// Token is the bearer token.
	Token  string
	Client *http.Client
	// Name is the sensor's name (for the drop reports).
	Name string
	// Batch bounds the events of one request (default 500).
	Batch int
	// MinBackoff and MaxBackoff bound the wait between failed attempts
	// (default 250ms and 30s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger

	shipped atomic.Int64
	dropped atomic.Int64 // dropped and not yet reported
	drops   atomic.Int64
	failed  atomic.Int64
	wake    chan struct{}
}

// Emit spools e; it never blocks on the network.
func (s *Shipper) Emit(e sensor.Event) {
	if e.ID == "" {
		e.ID = sensor.NewID("ev-")
	}
	if err := s.Spool.Put(e); err != nil {
		s.dropped.Add(1)
		s.drops.Add(1)
		if !errors.Is(err, ErrFull) {
			s.logger().Error("couldn't spool an event; dropped", "err", err)
		}
		return
	}
	select {
	case s.wake <- struct{}{}: // nil before Init: no wake-up, the loop polls
	default:
	}
}

func (s *Shipper) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// Init fills the defaults; call it before the first Emit and Run.
func (s *Shipper) Init() {
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	if s.Batch <= 0 {
		s.Batch = 500
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = 250 * time.Millisecond
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 30 * time.Second
	}
	if s.Client == nil {
		s.Client = &http.Client{Timeout: 60 * time.Second}
	}
}

// ShipStats are the shipper's counters.
type ShipStats struct {
	Shipped int64 `json:"shipped"`
	Dropped int64 `json:"dropped"`
	// Failures counts failed attempts to ship a batch.
	Failures int64 `json:"failures"`
	Spool    Stats `json:"spool"`
}

// Stats returns the counters.
func (s *Shipper) Stats() ShipStats {
	return ShipStats{Shipped: s.shipped.Load(), Dropped: s.drops.Load(), Failures: s.failed.Load(), Spool: s.Spool.Stats()}
}

// Run ships until ctx ends; what is not shipped stays in the spool for
// the next start.
func (s *Shipper) Run(ctx context.Context) error {
	backoff := s.MinBackoff
	sync := time.NewTicker(200 * time.Millisecond)
	defer sync.Stop()
	for {
		s.reportDrops()
		events, cur, err := s.Spool.Peek(s.Batch)
		if err != nil {
			return fmt.Errorf("couldn't read the spool: %w", err)
		}
		if len(events) == 0 {
			if cur != (Cursor{}) {
				s.Spool.Ack(cur)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-s.wake:
			case <-sync.C:
				s.Spool.Sync()
			}
			continue
		}
		err = s.post(ctx, events)
		if err == nil {
			s.shipped.Add(int64(len(events)))
			if err := s.Spool.Ack(cur); err != nil {
				return fmt.Errorf("couldn't acknowledge shipped events: %w", err)
			}
			backoff = s.MinBackoff
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		s.failed.Add(1)
		s.logger().Warn("couldn't ship events; they stay in the spool", "events", len(events), "retry_in", backoff, "err", err)
		s.Spool.Sync()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.MaxBackoff)
	}
}

// reportDrops spools a report of dropped events once there is room.
func (s *Shipper) reportDrops() {
	n := s.dropped.Swap(0)
	if n == 0 {
		return
	}
	s.logger().Warn("dropped sensor events: the spool was full", "dropped", n, "spool_bytes", s.Spool.Stats().Bytes)
	e := sensor.Event{ID: sensor.NewID("drop-"), Time: time.Now().UTC(), Sensor: s.Name + "/spool", Protocol: "spool",
		Kind: sensor.KindLog, Severity: sensor.SeverityMedium,
		Details: map[string]string{"dropped": strconv.FormatInt(n, 10), "reason": "sensor spool full", "message": fmt.Sprintf("%d events dropped: the sensor's spool was full", n)}}
	if err := s.Spool.Put(e); err != nil {
		s.dropped.Add(n) // still no room: report them later
	}
}

// batchAnswer is the part of the server's answer the shipper reads.
type batchAnswer struct {
	Results []struct {
		Line   int    `json:"line"`
		ID     string `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"results"`
}

// post sends events as NDJSON and returns nil only if every event is
// final on the server.
func (s *Shipper) post(ctx context.Context, events []sensor.Event) error {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(s.Server, "/")+"/api/v1/events", &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := s.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(b, &e)
		return fmt.Errorf("server answered HTTP %d: %s", resp.StatusCode, e.Error)
	}
	var a batchAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("server's answer is not a batch result: %v", err)
	}
	final := map[int]bool{}
	for _, r := range a.Results {
		switch r.Status {
		case "accepted", "duplicate", "limited":
			// limited: over its source's rate on the server, counted in
			// that source's summary event there.
			final[r.Line] = true
		case "rejected":
			final[r.Line] = true
			s.logger().Warn("the server rejected an event; it is not sent again", "event", r.ID, "line", r.Line, "err", r.Error)
		}
	}
	for i := range events {
		if !final[i+1] {
			return fmt.Errorf("the server did not take event %s yet", events[i].ID)
		}
	}
	return nil
}

// NewClient returns an HTTP client for server: https with the server's
// certificate verified against caFile (the system roots if empty), or,
// with pin ("sha256/<base64 of the SHA-256 of the certificate's
// SubjectPublicKeyInfo>"), accepted only if its key matches the pin.
// Plain http is allowed only to a loopback address.
func NewClient(server, caFile, pin string) (*http.Client, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("server %q is not a URL like https://vallum.example:8443", server)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // events go straight to the server
	switch u.Scheme {
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("server %s: plain http is allowed only to a loopback address; use https", server)
		}
	case "https":
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, fmt.Errorf("couldn't read the CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
			}
			tc.RootCAs = pool
		}
		if pin != "" {
			want, err := parsePin(pin)
			if err != nil {
				return nil, err
			}
			// The pin replaces chain verification: the key is the trust.
			tc.InsecureSkipVerify = true
			tc.VerifyConnection = func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("server sent no certificate")
				}
				got := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
				if got != want {
					return fmt.Errorf("server key sha256/%s does not match the pin", base64.StdEncoding.EncodeToString(got[:]))
				}
				return nil
			}
		}
		tr.TLSClientConfig = tc
	default:
		return nil, fmt.Errorf("server %s: the scheme must be https (or http to loopback)", server)
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

func parsePin(pin string) ([32]byte, error) {
	var out [32]byte
	v, ok := strings.CutPrefix(pin, "sha256/")
	if !ok {
		return out, fmt.Errorf("pin %q must be sha256/<base64>", pin)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(b) != 32 {
		return out, fmt.Errorf("pin %q is not the base64 of 32 bytes", pin)
	}
	copy(out[:], b)
	return out, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

package httppot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vallum/vallum/internal/sensor"
)

// Server is the HTTP honeypot. Its configuration is fixed by New; the
// counters are atomic and everything else is read-only once serving, so
// its handlers run concurrently without locks.
type Server struct {
	cfg    Config
	env    sensor.Env
	name   string // Event.Sensor
	gate   *sensor.Gate
	quar   *sensor.Quarantine // nil: bodies are hashed, not kept
	tlsCfg *tls.Config        // nil without TLS listeners
	srv    *http.Server
	bait   map[string]*fixed // cfg.Bait, answers made once
	// serverHeader is the Server header's value, shared by every answer
	// (nil: none); notFound and forbidden are Apache's error pages up to
	// the host, made once.
	serverHeader        []string
	notFound, forbidden apachePage
	logger              *slog.Logger

	requests  atomic.Int64
	refused   atomic.Int64
	truncated atomic.Int64
}

// Stats are the honeypot's counters.
type Stats struct {
	// Requests is how many requests were answered (each an event).
	Requests int64
	// Refused is how many connections the connection caps closed at once.
	Refused int64
	// Truncated is how many request bodies were cut at MaxBody.
	Truncated int64
	// Held is how many connections are open now.
	Held int
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), Refused: s.refused.Load(), Truncated: s.truncated.Load(), Held: s.gate.Held()}
}

// New checks cfg (defaults filled in), opens the quarantine and, if HTTPS
// is configured, loads or makes the certificate in env.Dir.
func New(cfg Config, env sensor.Env) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.Sink == nil {
		return nil, errors.New("http honeypot: no event sink")
	}
	s := &Server{cfg: cfg, env: env, gate: sensor.NewGate(cfg.Limits), logger: env.Logger, bait: map[string]*fixed{}}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.name = "http"
	if env.Name != "" {
		s.name = env.Name + "/http"
	}
	for p, b := range cfg.Bait {
		s.bait[p] = newFixed(http.StatusOK, contentTypeOf(p), b)
	}
	if cfg.ServerHeader != "-" {
		s.serverHeader = []string{cfg.ServerHeader}
	}
	s.notFound = newApachePage(cfg.ServerHeader, "404 Not Found", "Not Found", "The requested URL was not found on this server.")
	s.forbidden = newApachePage(cfg.ServerHeader, "403 Forbidden", "Forbidden", "You don't have permission to access this resource.")
	if *cfg.CaptureBodies && env.Dir != "" {
		q, err := sensor.OpenQuarantine(filepath.Join(env.Dir, "quarantine"), cfg.Quarantine)
		if err != nil {
			return nil, fmt.Errorf("http honeypot: %w", err)
		}
		s.quar = q
	}
	if len(cfg.TLSListen) > 0 {
		if env.Dir == "" {
			return nil, errors.New("http honeypot: HTTPS needs a state directory for its certificate")
		}
		cert, err := loadOrCreateCert(filepath.Join(env.Dir, certFile), cfg.TLSHost)
		if err != nil {
			return nil, fmt.Errorf("http honeypot: %w", err)
		}
		s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10}
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ConnContext:       s.connContext,
		ConnState:         s.connState,
		// The attacker's malformed requests are not the operator's
		// errors: keep them out of the operator log.
		ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
	}
	return s, nil
}

// Handler returns the honeypot's HTTP handler (for tests and benchmarks;
// Serve uses it with its limits).
func (s *Server) Handler() http.Handler { return s }

// Serve listens on the configured addresses and serves until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	var plain, secure []net.Listener
	closeAll := func() {
		for _, l := range append(plain, secure...) {
			l.Close()
		}
	}
	for _, a := range s.cfg.Listen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return fmt.Errorf("http honeypot: %w", err)
		}
		plain = append(plain, l)
	}
	for _, a := range s.cfg.TLSListen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return fmt.Errorf("http honeypot: %w", err)
		}
		secure = append(secure, l)
	}
	for _, l := range append(plain, secure...) {
		s.logger.Info("http honeypot listening", "addr", l.Addr().String())
	}
	return s.ServeListeners(ctx, plain, secure)
}

// ServeListeners serves plain HTTP on plain and HTTPS on secure (New must
// have been given TLS listen addresses for HTTPS) until ctx ends, then
// closes every connection. A Server serves only once.
func (s *Server) ServeListeners(ctx context.Context, plain, secure []net.Listener) error {
	if len(secure) > 0 && s.tlsCfg == nil {
		return errors.New("http honeypot: HTTPS listeners given but no tls_listen configured")
	}
	g, gctx := errgroup.WithContext(ctx)
	stop := context.AfterFunc(gctx, func() { s.srv.Close() })
	defer stop()
	serve := func(l net.Listener) {
		g.Go(func() error {
			if err := s.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http honeypot on %s: %w", l.Addr(), err)
			}
			return nil
		})
	}
	for _, l := range plain {
		serve(s.limit(l))
	}
	for _, l := range secure {
		serve(tls.NewListener(s.limit(l), s.tlsCfg))
	}
	return g.Wait()
}

// connInfo is what a connection's requests share.
type connInfo struct {
	session  string
	src, dst sensor.Endpoint
	tls      bool
	events   *sensor.EventCap // Limits.MaxEvents for this connection; nil for none
}

type connKey struct{}

func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	ci := &connInfo{session: sensor.NewID("http-"), src: sensor.EndpointOf(c.RemoteAddr()), dst: sensor.EndpointOf(c.LocalAddr())}
	_, ci.tls = c.(*tls.Conn)
	ci.events = sensor.NewEventCap(s.cfg.Limits.MaxEvents)
	if lc := limitedOf(c); lc != nil {
		lc.info.Store(ci)
	}
	return context.WithValue(ctx, connKey{}, ci)
}

// limitedOf returns the limitedConn under c (every connection Serve
// accepts has one); nil for any other.
func limitedOf(c net.Conn) *limitedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, _ := c.(*limitedConn)
	return lc
}

// connState emits, when a connection whose event cap was spent ends, a
// disconnect event with the number of events it kept out.
func (s *Server) connState(c net.Conn, state http.ConnState) {
	if state != http.StateClosed && state != http.StateHijacked {
		return
	}
	lc := limitedOf(c)
	if lc == nil {
		return
	}
	ci := lc.info.Swap(nil) // once per connection
	if ci == nil {
		return
	}
	n := ci.events.Suppressed()
	if n == 0 {
		return
	}
	ev := sensor.Event{
		ID: sensor.NewID("ev-"), Time: time.Now().UTC(), Sensor: s.name, Protocol: "http",
		Kind: sensor.KindDisconnect, Src: ci.src, Dst: ci.dst, Session: ci.session,
		Details: map[string]string{"suppressed_events": strconv.FormatInt(n, 10)},
	}
	if ci.tls {
		ev.Protocol = "https"
	}
	s.env.Sink.Emit(ev)
}

// allow counts one event of ci and reports whether it may be emitted.
func (ci *connInfo) allow() bool { return ci.events == nil || ci.events.Allow() }

// ServeHTTP records the request and answers it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	if ci == nil { // served outside Serve (httptest)
		ci = &connInfo{session: sensor.NewID("http-"), src: endpointOf(r.RemoteAddr), tls: r.TLS != nil}
	}
	ev := sensor.Event{
		ID:       sensor.NewID("ev-"),
		Time:     time.Now().UTC(),
		Sensor:   s.name,
		Protocol: "http",
		Kind:     sensor.KindRequest,
		Src:      ci.src,
		Dst:      ci.dst,
		Session:  ci.session,
		Command:  clip(r.Method+" "+r.RequestURI+" "+r.Proto, maxCommand),
		Details:  headerDetails(r),
	}
	if ci.tls {
		ev.Protocol = "https"
	}
	if ua := r.Header.Get("User-Agent"); ua != "" {
		ev.Fingerprints = map[string]string{"user_agent": clip(ua, maxValue)}
	}
	if s.serverHeader != nil {
		w.Header()["Server"] = s.serverHeader // never modified: shared by all answers
	}
	body, ref, ok, cut, held := s.readBody(r)
	defer s.releaseBody(held)
	if ok {
		ev.Payloads = []sensor.PayloadRef{ref}
	}
	if ci.allow() {
		s.env.Sink.Emit(ev)
	}
	f := &form{body: body}
	if c := credentials(r, f); c != nil && ci.allow() {
		auth := ev
		auth.ID = sensor.NewID("ev-")
		auth.Kind = sensor.KindAuth
		auth.Credentials = c
		auth.Details = map[string]string{"path": clip(r.URL.Path, maxValue)}
		auth.Payloads = nil
		s.env.Sink.Emit(auth)
	}
	if cut {
		// The rest of the body was not read: the connection ends with
		// this answer rather than draining it.
		w.Header().Set("Connection", "close")
	}
	s.respond(w, r, f)
}

// form is a request body read as a URL-encoded form, parsed at most once
// however many look at it.
type form struct {
	body   []byte
	parsed bool
	values url.Values
	err    error
}

func (f *form) parse() (url.Values, error) {
	if !f.parsed {
		f.values, f.err = url.ParseQuery(string(f.body))
		f.parsed = true
	}
	return f.values, f.err
}

// Bounds on what one event carries.
const (
	maxCommand = 2048
	maxValue   = 512
	maxHeaders = 32
)

// headerDetails returns up to maxHeaders headers, lower-case names, each
// value clipped; Host is always kept.
func headerDetails(r *http.Request) map[string]string {
	d := make(map[string]string, min(len(r.Header), maxHeaders)+1)
	d["host"] = clip(r.Host, maxValue)
	for k, vs := range r.Header {
		if len(d) >= maxHeaders {
			d["headers_truncated"] = "true"
			break
		}
		d[lowerName(k)] = clip(strings.Join(vs, ", "), maxValue)
	}
	return d
}

// lowerNames maps the canonical names of the request headers clients
// send most to their lower-case form, so recording them allocates nothing.
var lowerNames = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Length", "Content-Type", "Cookie", "Dnt",
		"Forwarded", "If-Modified-Since", "If-None-Match", "Keep-Alive", "Origin", "Pragma",
		"Priority", "Proxy-Connection", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile",
		"Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User",
		"Soapaction", "Te", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent", "Via",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Requested-With",
	} {
		m[k] = strings.ToLower(k)
	}
	return m
}()

// lowerName returns the header name k in lower case.
func lowerName(k string) string {
	if l, ok := lowerNames[k]; ok {
		return l
	}
	return strings.ToLower(k)
}

// clip cuts s to n bytes.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func endpointOf(addr string) sensor.Endpoint {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return sensor.Endpoint{}
	}
	return sensor.Endpoint{IP: ap.Addr().Unmap().String(), Port: int(ap.Port())}
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads up to MaxBody bytes of the body within the memory budget
// and returns them, their reference (kept in the quarantine when there is
// one; ok is false when there is no body), whether bytes were left unread,
// and the buffer to give back with releaseBody once the body is no longer
// used.
func (s *Server) readBody(r *http.Request) (body []byte, ref sensor.PayloadRef, ok, cut bool, held heldBody) {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return nil, ref, false, false, held
	}
	want := s.cfg.MaxBody
	if r.ContentLength > 0 && r.ContentLength < want {
		want = r.ContentLength
	}
	name := clip(r.URL.Path, maxValue)
	if !s.env.Budget.Reserve(want) {
		s.truncated.Add(1)
		return nil, sensor.PayloadRef{Name: name, Truncated: true}, true, true, held
	}
	held = heldBody{buf: bodyPool.Get().(*bytes.Buffer), reserved: want}
	held.buf.Reset()
	n, _ := held.buf.ReadFrom(io.LimitReader(r.Body, s.cfg.MaxBody))
	if n == s.cfg.MaxBody {
		var one [1]byte
		if m, _ := r.Body.Read(one[:]); m > 0 {
			cut = true
			s.truncated.Add(1)
		}
	}
	body = held.buf.Bytes()
	if s.quar != nil {
		q, err := s.quar.Put(name, body)
		if err == nil {
			q.Truncated = q.Truncated || cut
			return body, q, true, cut, held
		}
		s.logger.Warn("couldn't keep a request body in the quarantine; recording its hash only", "err", err)
	}
	sum := sha256.Sum256(body)
	return body, sensor.PayloadRef{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)), Name: name, Truncated: cut}, true, cut, held
}

// heldBody is a body buffer and the bytes reserved for it from the memory
// budget; the zero heldBody holds nothing.
type heldBody struct {
	buf      *bytes.Buffer
	reserved int64
}

// releaseBody gives back what readBody held.
func (s *Server) releaseBody(h heldBody) {
	if h.buf == nil {
		return
	}
	s.env.Budget.Release(h.reserved)
	if h.buf.Cap() <= int(s.cfg.MaxBody)+bytes.MinRead {
		bodyPool.Put(h.buf)
	}
}

// Form field names that hold a user name or a password, in the order
// they are tried.
var (
	userFields = []string{"log", "username", "user", "login", "email", "pma_username", "j_username", "uname", "usr", "name", "userid", "account"}
	passFields = []string{"pwd", "password", "pass", "passwd", "pma_password", "j_password", "psd", "credential", "secret", "pw"}
)

// credentials returns what the request presents: HTTP Basic, or a login
// form (URL-encoded or JSON) with a password field.
func credentials(r *http.Request, f *form) *sensor.Credentials {
	if u, p, ok := r.BasicAuth(); ok {
		return &sensor.Credentials{Method: "basic", Username: clip(u, maxValue), Password: clip(p, maxValue)}
	}
	body := f.body
	if len(body) == 0 || r.Method != http.MethodPost {
		return nil
	}
	fields := map[string]string{}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		var m map[string]any
		if json.Unmarshal(body, &m) != nil {
			return nil
		}
		for k, v := range m {
			if s, ok := v.(string); ok {
				fields[strings.ToLower(k)] = s
			}
		}
	case ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		q, err := f.parse()
		if err != nil && len(q) == 0 {
			return nil
		}
		for k, v := range q {
			if len(v) > 0 {
				fields[strings.ToLower(k)] = v[0]
			}
		}
	default:
		return nil
	}
	c := &sensor.Credentials{Method: "form"}
	found := false
	for _, f := range passFields {
		if v, ok := fields[f]; ok {
			c.Password, found = clip(v, maxValue), true
			break
		}
	}
	if !found {
		return nil
	}
	for _, f := range userFields {
		if v, ok := fields[f]; ok {
			c.Username = clip(v, maxValue)
			break
		}
	}
	return c
}

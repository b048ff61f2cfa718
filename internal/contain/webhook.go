package contain

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// WebhookConfig configures a webhook connector: a signed JSON action
// posted to an EDR, a cloud firewall or an identity provider we operate.
type WebhookConfig struct {
	// Device is the connector's name: a device of kind edr or firewall in
	// the perimeter file, named by actions in params.device.
	Device string `yaml:"device"`
	// Kinds are the action kinds it carries out (firewall_block,
	// host_isolation, account_disable).
	Kinds []string `yaml:"kinds"`
	// URL receives the POSTs: https, or http only to a loopback address.
	// Logs, plans and reports show it without its userinfo and query
	// string (see RedactURL).
	URL string `yaml:"url"`
	// ReadBack is the URL Verify reads the state from; "{action}" is
	// replaced by the action ID (query-escaped). https, or http only to a
	// loopback address; shown redacted like URL.
	ReadBack string `yaml:"read_back"`
	// SecretFile holds the HMAC-SHA-256 key (its bytes, trailing newline
	// trimmed). The key is never logged.
	SecretFile string `yaml:"secret_file"`
	// Timeout bounds each attempt. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// Attempts is the most attempts per call, retried only on network
	// errors and 5xx answers with exponential backoff. Default 4.
	Attempts int `yaml:"attempts"`
	// Backoff is the first retry's delay, doubled each time up to 8×.
	// Default 500ms.
	Backoff time.Duration `yaml:"backoff"`
}

// Headers of a webhook call.
const (
	HeaderTimestamp   = "X-Vallum-Timestamp" // Unix seconds
	HeaderSignature   = "X-Vallum-Signature" // "sha256=" + hex HMAC-SHA-256(key, method + "\n" + path?query + "\n" + timestamp + "." + body): see Sign
	HeaderIdempotency = "Idempotency-Key"    // same for every attempt of one call
	HeaderAttempt     = "X-Vallum-Attempt"   // 1, 2, …
)

// WebhookCall is the JSON body posted.
type WebhookCall struct {
	// Op is "contain" (apply) or "release" (revert).
	Op      string    `json:"op"`
	Action  string    `json:"action"`
	Kind    string    `json:"kind"`
	Target  string    `json:"target"`
	Device  string    `json:"device"`
	Expires time.Time `json:"expires,omitzero"`
}

// ReadBack is the answer the read-back URL must give: the receiver's own
// view of the action.
type ReadBack struct {
	Action string `json:"action"`
	Target string `json:"target"`
	// State is "contained" or "released".
	State string `json:"state"`
}

// Webhook is the webhook connector. It is safe for concurrent use.
type Webhook struct {
	cfg    WebhookConfig
	key    []byte
	client *http.Client
	sleep  func(context.Context, time.Duration) error
}

var _ Connector = (*Webhook)(nil)

// CheckURL checks a webhook or read-back URL ("{action}" allowed): it
// must be https, or http to a loopback address (127.0.0.0/8, [::1]), where
// nothing on the network can read or change the call. The error shows the
// URL redacted.
func CheckURL(u string) error {
	pu, err := url.Parse(strings.ReplaceAll(u, "{action}", "x"))
	if err != nil || pu.Host == "" || (pu.Scheme != "https" && pu.Scheme != "http") {
		return fmt.Errorf("%q is not an https URL", RedactURL(u))
	}
	if pu.Scheme == "http" {
		if a, err := netip.ParseAddr(pu.Hostname()); err != nil || !a.Unmap().IsLoopback() {
			return fmt.Errorf("%q is plain http: use https (http is allowed only to a loopback address)", RedactURL(u))
		}
	}
	return nil
}

// RedactURL returns u without its userinfo, query string and fragment,
// which may carry credentials (user:password@, ?token=…): the form every
// log entry, plan, report and error shows. A URL that does not parse is
// replaced by a placeholder.
func RedactURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	pu.User, pu.RawQuery, pu.ForceQuery, pu.Fragment, pu.RawFragment = nil, "", false, "", ""
	return pu.String()
}

// NewWebhook checks cfg and reads the key. The client (nil: a default
// one) is copied so that redirects are never followed: a redirect would
// carry the signed call to another URL, so it is reported as a failure.
func NewWebhook(cfg WebhookConfig, client *http.Client) (*Webhook, error) {
	if cfg.Device == "" || len(cfg.Kinds) == 0 {
		return nil, errors.New("webhook: device and kinds are required")
	}
	for _, u := range []string{cfg.URL, cfg.ReadBack} {
		if err := CheckURL(u); err != nil {
			return nil, fmt.Errorf("webhook %s: %w", cfg.Device, err)
		}
	}
	b, err := os.ReadFile(cfg.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: couldn't read the secret file: %w", cfg.Device, err)
	}
	key := bytes.TrimRight(b, "\r\n")
	if len(key) < 16 {
		return nil, fmt.Errorf("webhook %s: the key in %s is shorter than 16 bytes", cfg.Device, cfg.SecretFile)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	c := &http.Client{}
	if client != nil {
		*c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Webhook{cfg: cfg, key: key, client: c, sleep: sleepCtx}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Name returns the device name.
func (w *Webhook) Name() string { return w.cfg.Device }

// Type returns "webhook".
func (w *Webhook) Type() string { return "webhook" }

// Kinds returns the configured kinds.
func (w *Webhook) Kinds() []string { return w.cfg.Kinds }

// Sign returns the signature header value of a request: "sha256=" and
// the hex HMAC-SHA-256 with key of
//
//	method + "\n" + target + "\n" + timestamp + "." + body
//
// where target is the request target as sent in the request line, the
// path and query (a Go receiver passes r.Method and r.RequestURI). A
// signature is bound to its method and URL: it cannot be replayed to
// another endpoint of the receiver, nor a read-back's to a POST.
func Sign(key []byte, method, target, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(method + "\n" + target + "\n" + timestamp + "."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// signRequest sets the timestamp and signature headers of req.
func (w *Webhook) signRequest(req *http.Request, body []byte) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.key, req.Method, req.URL.RequestURI(), ts, body))
}

// redactErr returns err's message with the URL of a *url.Error (which the
// HTTP client puts in every network error, query string included)
// redacted.
func redactErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Sprintf("%s %q: %v", ue.Op, RedactURL(ue.URL), ue.Err)
	}
	return err.Error()
}

// statusError describes an HTTP status that is not a success.
func statusError(status int) string {
	if status >= 300 && status < 400 {
		return fmt.Sprintf("HTTP %d (a redirect: not followed)", status)
	}
	return fmt.Sprintf("HTTP %d", status)
}

// Plan describes the call that will be made.
func (w *Webhook) Plan(ctx context.Context, s Spec) (Plan, error) {
	if !containsStr(w.cfg.Kinds, s.Kind) {
		return Plan{}, fmt.Errorf("%w: webhook %s does not carry out %s", ErrUnsupported, w.cfg.Device, s.Kind)
	}
	return Plan{Action: s.Action, Connector: w.Type(), Device: w.cfg.Device, Kind: s.Kind, Target: s.Target, Expires: s.Expires,
		Changes: []Change{{Op: "add", Element: s.Target, Where: "POST " + RedactURL(w.cfg.URL),
			Detail: fmt.Sprintf(`signed JSON {"op":"contain","kind":%q,"target":%q}; verified by GET %s`, s.Kind, s.Target, RedactURL(w.readBackURL(s.Action)))}}}, nil
}

func (w *Webhook) readBackURL(action string) string {
	return strings.ReplaceAll(w.cfg.ReadBack, "{action}", url.QueryEscape(action))
}

// Apply posts op "contain".
func (w *Webhook) Apply(ctx context.Context, p Plan) (Report, error) {
	return w.call(ctx, p, "contain")
}

// Revert posts op "release".
func (w *Webhook) Revert(ctx context.Context, p Plan) (Report, error) {
	return w.call(ctx, p, "release")
}

func (w *Webhook) call(ctx context.Context, p Plan, op string) (Report, error) {
	body, err := json.Marshal(WebhookCall{Op: op, Action: p.Action, Kind: p.Kind, Target: p.Target, Device: p.Device, Expires: p.Expires})
	if err != nil {
		return Report{}, err
	}
	// One key per action and operation: a retry, or a second Apply of the
	// same action, is recognisably the same call.
	sum := sha256.Sum256([]byte(p.Device + "\x00" + p.Action + "\x00" + op))
	idem := hex.EncodeToString(sum[:16])
	var attempts []string
	var last error
	delay := w.cfg.Backoff
	for i := 1; i <= w.cfg.Attempts; i++ {
		if i > 1 {
			if err := w.sleep(ctx, delay); err != nil {
				last = err
				break
			}
			delay = min(delay*2, 8*w.cfg.Backoff)
		}
		status, err := w.post(ctx, body, idem, i)
		switch {
		case err != nil:
			attempts = append(attempts, "network error")
			last = errors.New(redactErr(err))
			continue
		case status >= 500:
			attempts = append(attempts, strconv.Itoa(status))
			last = fmt.Errorf("HTTP %d", status)
			continue
		case status >= 300:
			attempts = append(attempts, strconv.Itoa(status))
			last = fmt.Errorf("%s (not retried)", statusError(status))
		default:
			attempts = append(attempts, strconv.Itoa(status))
			last = nil
		}
		break
	}
	rep := Report{Detail: fmt.Sprintf("%s %s, idempotency key %s, attempts: %s", op, RedactURL(w.cfg.URL), idem, strings.Join(attempts, ", "))}
	o := Outcome{Element: p.Target, OK: last == nil}
	if last != nil {
		o.Error = last.Error()
	}
	for _, c := range p.Changes {
		o.Element = c.Element
		rep.Outcomes = append(rep.Outcomes, o)
	}
	return rep, nil
}

func (w *Webhook) post(ctx context.Context, body []byte, idem string, attempt int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	w.signRequest(req, body)
	req.Header.Set(HeaderIdempotency, idem)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// ParseReadBack strictly decodes a read-back answer (at most 64 KiB, one
// JSON object, no unknown fields, state "contained" or "released").
func ParseReadBack(b []byte) (ReadBack, error) {
	if len(b) > 64<<10 {
		return ReadBack{}, errors.New("read-back answer larger than 64 KiB")
	}
	var rb ReadBack
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rb); err != nil {
		return ReadBack{}, fmt.Errorf("read-back answer: %w", err)
	}
	if dec.More() {
		return ReadBack{}, errors.New("read-back answer: data after the JSON object")
	}
	if rb.State != "contained" && rb.State != "released" {
		return ReadBack{}, fmt.Errorf("read-back answer: state %q is not contained or released", rb.State)
	}
	return rb, nil
}

// Verify reads the receiver's view back (signed GET of the read-back
// URL) and records the answer. It agrees only if the answer names the
// action and target and its state is what is wanted; anything else —
// another state, another target, an error, an unparsable body — is a
// failed verification.
func (w *Webhook) Verify(ctx context.Context, p Plan, present bool) (Observation, error) {
	obs := Observation{At: time.Now().UTC(), Want: want(present)}
	u := w.readBackURL(p.Action)
	shown := RedactURL(u)
	body, status, err := w.get(ctx, u)
	o := Observed{Element: p.Target}
	wantState := map[bool]string{true: "contained", false: "released"}[present]
	switch {
	case err != nil:
		o.Detail = "GET " + shown + ": " + redactErr(err)
	case status != http.StatusOK:
		o.Detail = "GET " + shown + ": " + statusError(status)
	default:
		snippet := string(body)
		if len(snippet) > 1024 {
			snippet = snippet[:1024] + "…"
		}
		o.Detail = "GET " + shown + ": " + snippet
		rb, perr := ParseReadBack(body)
		if perr != nil {
			o.Detail += " (" + perr.Error() + ")"
			break
		}
		o.Present = rb.State == "contained" && rb.Action == p.Action && rb.Target == p.Target
		obs.OK = rb.Action == p.Action && rb.Target == p.Target && rb.State == wantState
		if !obs.OK {
			obs.Detail = fmt.Sprintf("the receiver reports action %q target %q state %q; want %q %q %q", rb.Action, rb.Target, rb.State, p.Action, p.Target, wantState)
		}
	}
	if obs.Detail == "" && !obs.OK {
		obs.Detail = "no usable read-back answer: " + o.Detail
	}
	obs.Elements = []Observed{o}
	return obs, nil
}

func (w *Webhook) get(ctx context.Context, u string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	w.signRequest(req, nil)
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10+1))
	return b, resp.StatusCode, err
}

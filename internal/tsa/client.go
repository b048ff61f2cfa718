package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Authority is one time-stamping authority and what verifies its tokens.
// It is safe for concurrent use.
type Authority struct {
	// Name identifies the authority in logs, entries and bundles.
	Name string
	// URL is the RFC 3161 HTTP endpoint.
	URL string
	// Roots are the trusted roots of its certificates; RootsPEM the same in
	// PEM, copied into bundles.
	Roots    *x509.CertPool
	RootsPEM []byte
	// Hash is the imprint's hash (default SHA-256).
	Hash crypto.Hash
	// Username and Password, if set, are sent with HTTP basic
	// authentication; never logged.
	Username, Password string
	// HTTP sends the requests; a client with a 30 s timeout if nil.
	HTTP *http.Client
}

// String names the authority without its credentials.
func (a *Authority) String() string {
	u, err := url.Parse(a.URL)
	if err != nil {
		return a.Name
	}
	u.User = nil
	return fmt.Sprintf("%s (%s)", a.Name, u.Redacted())
}

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// Stamp time-stamps data: it sends a request with a fresh nonce and
// returns the token only once Verify accepts the response for that data,
// nonce and the authority's roots.
func (a *Authority) Stamp(ctx context.Context, data []byte) (*Token, error) {
	h := a.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	req, err := NewRequest(data, h)
	if err != nil {
		return nil, err
	}
	resp, err := a.post(ctx, req.DER)
	if err != nil {
		return nil, err
	}
	tok, err := Verify(resp, VerifyOptions{Hash: h, Digest: req.Digest, Nonce: req.Nonce, Roots: a.Roots})
	if err != nil {
		return nil, fmt.Errorf("authority %s: %w", a.Name, err)
	}
	return tok, nil
}

func (a *Authority) post(ctx context.Context, der []byte) ([]byte, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL, bytes.NewReader(der))
	if err != nil {
		return nil, fmt.Errorf("authority %s: %w", a.Name, err)
	}
	hr.Header.Set("Content-Type", "application/timestamp-query")
	hr.Header.Set("Accept", "application/timestamp-reply")
	if a.Username != "" || a.Password != "" {
		hr.SetBasicAuth(a.Username, a.Password)
	}
	c := a.HTTP
	if c == nil {
		c = defaultHTTP
	}
	r, err := c.Do(hr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold credentials
		}
		return nil, fmt.Errorf("couldn't reach time-stamping authority %s: %w", a, err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("authority %s: couldn't read the response: %w", a, err)
	}
	if r.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("authority %s answered HTTP %d", a, r.StatusCode)
	}
	if len(body) > MaxResponse {
		return nil, fmt.Errorf("authority %s: response larger than %d bytes", a, MaxResponse)
	}
	return body, nil
}

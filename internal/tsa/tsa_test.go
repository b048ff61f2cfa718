package tsa

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
	"golang.org/x/mod/sumdb/note"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/store"
	"github.com/vallum/vallum/internal/tsa/tsatest"
)

func authorities(t *testing.T) (v1, v2, other *tsatest.Authority) {
	t.Helper()
	// Each test gets its own authorities (t.TempDir and httptest are tied
	// to the test), started in parallel.
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); v1 = tsatest.Start(t, tsatest.Options{ESSCertIDAlg: "sha1", Name: "TSA One"}) }()
	go func() {
		defer wg.Done()
		v2 = tsatest.Start(t, tsatest.Options{ESSCertIDAlg: "sha256", Name: "TSA Two"})
	}()
	go func() { defer wg.Done(); other = tsatest.Start(t, tsatest.Options{Name: "TSA Untrusted"}) }()
	wg.Wait()
	return
}

func authorityOf(t *testing.T, a *tsatest.Authority, name string) *Authority {
	t.Helper()
	pool, err := PoolFromPEM(a.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &Authority{Name: name, URL: a.URL, Roots: pool, RootsPEM: a.CAPEM, Hash: crypto.SHA256}
}

// opensslVerify cross-checks a response with openssl ts -verify.
func opensslVerify(t *testing.T, a *tsatest.Authority, data, resp []byte) error {
	t.Helper()
	dir := t.TempDir()
	df, rf := filepath.Join(dir, "data"), filepath.Join(dir, "token.tsr")
	os.WriteFile(df, data, 0o600)
	os.WriteFile(rf, resp, 0o600)
	out, err := exec.Command("openssl", "ts", "-verify", "-data", df, "-in", rf, "-CAfile", a.CAFile, "-untrusted", a.CertFile).CombinedOutput()
	if err != nil {
		return errors.New(string(out))
	}
	if !strings.Contains(string(out), "Verification: OK") {
		return errors.New(string(out))
	}
	return nil
}

func TestStampAndVerify(t *testing.T) {
	v1, v2, _ := authorities(t)
	data := []byte("vallum.example/log\n42\nq0FjZ...\n\n— vallum.example/log sig\n")
	for _, tc := range []struct {
		name string
		a    *tsatest.Authority
		v2   bool
	}{{"ESSCertID (RFC 3161)", v1, false}, {"ESSCertIDv2 (RFC 5816)", v2, true}} {
		t.Run(tc.name, func(t *testing.T) {
			auth := authorityOf(t, tc.a, tc.name)
			tok, err := auth.Stamp(context.Background(), data)
			if err != nil {
				t.Fatal(err)
			}
			if tok.ESSCertIDv2 != tc.v2 {
				t.Errorf("ESSCertIDv2 = %v, want %v", tok.ESSCertIDv2, tc.v2)
			}
			if d := time.Since(tok.Time); d < -2*time.Second || d > time.Minute {
				t.Errorf("gen time %v is not now", tok.Time)
			}
			if len(tok.Chain) != 2 {
				t.Errorf("chain has %d certificates, want 2 (TSA, root)", len(tok.Chain))
			}
			if err := opensslVerify(t, tc.a, data, tok.Response); err != nil {
				t.Errorf("openssl ts -verify refuses the token our client accepted: %v", err)
			}
			// Re-verification from the stored response alone.
			if _, err := Verify(tok.Response, VerifyOptions{Data: data, Roots: auth.Roots}); err != nil {
				t.Errorf("stored token doesn't re-verify: %v", err)
			}
			if _, err := Verify(tok.Response, VerifyOptions{Data: append([]byte("x"), data...), Roots: auth.Roots}); err == nil {
				t.Error("token verified against other data")
			}
			if err := opensslVerify(t, tc.a, append([]byte("x"), data...), tok.Response); err == nil {
				t.Error("openssl verified the token against other data: the cross-check can't fail")
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	v1, v2, other := authorities(t)
	data := []byte("checkpoint bytes\n")
	ctx := context.Background()

	t.Run("wrong hash", func(t *testing.T) {
		v1.SetRewrite(func(q []byte) []byte {
			r, err := timestamp.ParseRequest(q)
			if err != nil {
				t.Error(err)
				return q
			}
			r.HashedMessage = make([]byte, 32)
			b, _ := r.Marshal()
			return b
		})
		defer v1.SetRewrite(nil)
		_, err := authorityOf(t, v1, "one").Stamp(ctx, data)
		if err == nil || !strings.Contains(err.Error(), "not the data's") {
			t.Fatalf("err = %v, want a digest mismatch", err)
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		v1.SetRewrite(func(q []byte) []byte {
			r, _ := timestamp.ParseRequest(q)
			r.Nonce = big.NewInt(7)
			b, _ := r.Marshal()
			return b
		})
		defer v1.SetRewrite(nil)
		_, err := authorityOf(t, v1, "one").Stamp(ctx, data)
		if err == nil || !strings.Contains(err.Error(), "nonce 7") {
			t.Fatalf("err = %v, want a nonce mismatch", err)
		}
	})
	t.Run("untrusted authority", func(t *testing.T) {
		a := authorityOf(t, other, "other")
		a.Roots, a.RootsPEM = authorityOf(t, v1, "one").Roots, v1.CAPEM
		_, err := a.Stamp(ctx, data)
		if err == nil || !strings.Contains(err.Error(), "unknown authority") {
			t.Fatalf("err = %v, want an unknown authority", err)
		}
	})
	roots := authorityOf(t, v1, "one").Roots
	stampWith := func(t *testing.T, cert *x509.Certificate, key crypto.Signer) []byte {
		t.Helper()
		ts := timestamp.Timestamp{HashAlgorithm: crypto.SHA256, HashedMessage: sha256Of(data), Time: time.Now(), Policy: []int{1, 2, 3}, AddTSACertificate: true}
		resp, err := ts.CreateResponseWithOpts(cert, key, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	t.Run("expired certificate", func(t *testing.T) {
		cert, key := v1.IssueGo(t, "expired", []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}, true, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
		resp := stampWith(t, cert, key)
		_, err := Verify(resp, VerifyOptions{Data: data, Roots: roots})
		if err == nil || !(strings.Contains(err.Error(), "expired") || strings.Contains(err.Error(), "outside of certificate validity")) {
			t.Fatalf("err = %v, want an expired certificate", err)
		}
		// openssl ts -reply signs with it too; the token is refused all the same.
		if r, err := v1.ReplyWith(query(t, data), "expired.pem", "tsa.key"); err == nil {
			if _, err := Verify(r, VerifyOptions{Data: data, Roots: roots}); err == nil {
				t.Fatal("openssl token from an expired certificate verified")
			}
		}
	})
	t.Run("wrong extended key usage", func(t *testing.T) {
		cert, key := v1.IssueGo(t, "server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, true, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		_, err := Verify(stampWith(t, cert, key), VerifyOptions{Data: data, Roots: roots})
		if err == nil || !strings.Contains(err.Error(), "id-kp-timeStamping") {
			t.Fatalf("err = %v, want a wrong extended key usage", err)
		}
		if _, err := v1.ReplyWith(query(t, data), "server.pem", "tsa.key"); err == nil {
			t.Error("openssl ts -reply signed with a serverAuth certificate")
		}
	})
	t.Run("non-critical extended key usage", func(t *testing.T) {
		cert, key := v1.IssueGo(t, "noncrit", []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}, false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		_, err := Verify(stampWith(t, cert, key), VerifyOptions{Data: data, Roots: roots})
		if err == nil || !strings.Contains(err.Error(), "not critical") {
			t.Fatalf("err = %v, want a non-critical extended key usage", err)
		}
	})
	t.Run("ESSCertIDv2 checked", func(t *testing.T) {
		// The library's own responses carry ESSCertIDv2 too; one made with a
		// proper certificate verifies, the same bytes with the signer's
		// certificate swapped for another with the same key do not.
		good, key := v1.IssueGo(t, "good", []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}, true, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		tok, err := Verify(stampWith(t, good, key), VerifyOptions{Data: data, Roots: roots})
		if err != nil {
			t.Fatal(err)
		}
		if !tok.ESSCertIDv2 {
			t.Error("ESSCertIDv2 not seen")
		}
	})
	t.Run("signing-certificate attribute names the signer", func(t *testing.T) {
		// Tokens of both kinds from openssl: the attribute must name the
		// signer; checked against another certificate it must not pass.
		for _, a := range []*Authority{authorityOf(t, v1, "one"), authorityOf(t, v2, "two")} {
			tok, err := a.Stamp(ctx, data)
			if err != nil {
				t.Fatal(err)
			}
			ts, err := timestamp.ParseResponse(tok.Response)
			if err != nil {
				t.Fatal(err)
			}
			p7, err := pkcs7.Parse(ts.RawToken)
			if err != nil {
				t.Fatal(err)
			}
			if v2, err := checkSigningCertificate(p7, tok.Signer); err != nil || v2 != tok.ESSCertIDv2 {
				t.Errorf("%s: the signer itself: v2 %v, %v", a.Name, v2, err)
			}
			other := tok.Chain[len(tok.Chain)-1] // the root
			if _, err := checkSigningCertificate(p7, other); err == nil || !strings.Contains(err.Error(), "names another certificate") {
				t.Errorf("%s: another certificate passed the signing-certificate check: %v", a.Name, err)
			}
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, b := range [][]byte{nil, []byte("not der"), {0x30, 0x03, 0x02, 0x01, 0x02}} {
			if _, err := Verify(b, VerifyOptions{Data: data, Roots: roots}); err == nil {
				t.Errorf("Verify(%x) succeeded", b)
			}
		}
	})
}

func sha256Of(b []byte) []byte {
	h := crypto.SHA256.New()
	h.Write(b)
	return h.Sum(nil)
}

func query(t *testing.T, data []byte) []byte {
	r, err := NewRequest(data, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return r.DER
}

// newLog opens a real evidence log and SQLite database in a temp dir.
func newLog(t *testing.T) (*evidence.Log, *store.DB) {
	t.Helper()
	dir := t.TempDir()
	skey, vkey, _ := evidence.GenerateKey("tsa-test.vallum.example/log")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	files, err := store.OpenFiles(filepath.Join(dir, "log"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { files.Close() })
	l, err := evidence.Open(evidence.Config{Origin: signer.Name(), Signer: signer, Verifier: verifier, Storage: files, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	db, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "vallum.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return l, db
}

func TestAnchorer(t *testing.T) {
	v1, v2, other := authorities(t)
	l, db := newLog(t)
	st, err := OpenStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	down := authorityOf(t, other, "down")
	down.URL = "http://127.0.0.1:1/"
	an := &Anchorer{Log: l, Store: st, Authorities: []*Authority{authorityOf(t, v1, "one"), authorityOf(t, v2, "two"), down},
		Interval: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := an.Anchor(ctx, "", "manual"); err == nil {
		t.Fatal("anchored an empty log")
	}
	if _, err := l.Append(ctx, evidence.Record{Kind: "note", Actor: "t", Incident: "INC-1", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	got, err := an.Anchor(ctx, "INC-1", "manual")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d anchors, want 2 (the third authority is down)", len(got))
	}
	for _, a := range got {
		if a.TreeSize != 1 || a.LogIndex < 1 {
			t.Errorf("anchor %+v: want tree size 1 and a log index", a)
		}
		e, err := l.Entry(a.LogIndex)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := evidence.DecodeHeader(e.Header)
		if h.Kind != AnchorKind || h.Incident != "INC-1" || !strings.Contains(string(e.Payload), a.TokenSHA256) {
			t.Errorf("anchor entry %s %s %s doesn't log the token", h.Kind, h.Incident, e.Payload)
		}
		cp, _ := l.Checkpoint(1)
		if hex.EncodeToString(sha256Of(cp)) != a.CheckpointSHA256 {
			t.Error("anchor doesn't name the checkpoint it stamped")
		}
	}
	// The scheduler: a milestone anchors its incident at once; the log
	// then only changed by anchor entries, so the ticks stamp nothing more.
	done := make(chan error)
	go func() { done <- an.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := l.Append(ctx, evidence.Record{Kind: "action.executed", Actor: "t", Incident: "INC-2", Payload: []byte(`{"action":"ACT-1"}`)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		as, _ := st.List(ctx, 0, 100)
		return len(as) >= 4 && as[0].Incident == "INC-2"
	})
	time.Sleep(600 * time.Millisecond)
	as, _ := st.List(ctx, 0, 100)
	n := len(as)
	if n > 6 {
		t.Errorf("%d anchors after the milestone: the scheduler re-stamps its own anchor entries", n)
	}
	time.Sleep(400 * time.Millisecond)
	if as, _ := st.List(ctx, 0, 100); len(as) != n {
		t.Errorf("anchors went from %d to %d with no change in the log", n, len(as))
	}
	// An ordinary entry is no milestone: the next tick stamps it.
	if _, err := l.Append(ctx, evidence.Record{Kind: "note", Actor: "t", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	size := l.Size()
	waitFor(t, func() bool {
		as, _ := st.List(ctx, 0, 1)
		return len(as) == 1 && as[0].Reason == "schedule" && as[0].TreeSize >= size
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cov, err := st.Covering(context.Background(), []int64{0})
	if err != nil {
		t.Fatal(err)
	}
	if len(cov) < 2 || cov[0].TreeSize != 1 {
		t.Errorf("Covering(0) = %d anchors, first of size %d; want the size-1 anchors first", len(cov), cov[0].TreeSize)
	}
}

func waitFor(t *testing.T, f func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if f() {
			return
		}
	}
	t.Fatal("timed out")
}

func FuzzVerify(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Add([]byte("garbage"))
	pool := x509.NewCertPool()
	f.Fuzz(func(t *testing.T, b []byte) {
		Verify(b, VerifyOptions{Data: []byte("x"), Roots: pool})
	})
}

// TestAuthorityErrors: basic authentication is sent, and neither an HTTP
// error nor an unreachable authority shows the password.
func TestAuthorityErrors(t *testing.T) {
	var gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer srv.Close()
	a := &Authority{Name: "locked", URL: srv.URL, Roots: x509.NewCertPool(), Username: "acme", Password: "s3cret-pw"}
	_, err := a.Stamp(context.Background(), []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "HTTP 401") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("err = %v, want HTTP 401 without the password", err)
	}
	if gotUser != "acme" || gotPass != "s3cret-pw" {
		t.Errorf("basic auth sent %q:%q", gotUser, gotPass)
	}
	a.URL = "http://acme:s3cret-pw@127.0.0.1:1/"
	if _, err := a.Stamp(context.Background(), []byte("x")); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("unreachable: err = %v (must not show the password)", err)
	}
	if strings.Contains(a.String(), "s3cret") {
		t.Errorf("String() = %q shows the password", a.String())
	}
}

// BenchmarkStamp measures one request, response and verification against
// the openssl authority (a subprocess per request).
func BenchmarkStamp(b *testing.B) {
	a := tsatest.Start(b, tsatest.Options{ESSCertIDAlg: "sha256"})
	pool, _ := PoolFromPEM(a.CAPEM)
	auth := &Authority{Name: "bench", URL: a.URL, Roots: pool}
	data := []byte("checkpoint\n")
	for b.Loop() {
		if _, err := auth.Stamp(context.Background(), data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures verifying a stored token, as a bundle verifier does.
func BenchmarkVerify(b *testing.B) {
	a := tsatest.Start(b, tsatest.Options{ESSCertIDAlg: "sha256"})
	pool, _ := PoolFromPEM(a.CAPEM)
	data := []byte("checkpoint\n")
	tok, err := (&Authority{Name: "bench", URL: a.URL, Roots: pool}).Stamp(context.Background(), data)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Verify(tok.Response, VerifyOptions{Data: data, Roots: pool}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://tsa.example/tsa", "https://tsa.example/tsa"},
		{"https://acme:s3cret@tsa.example/tsa", "https://tsa.example/tsa"},
		{"https://tsa.example/tsa?apikey=s3cret&x=1", "https://tsa.example/tsa"},
		{"https://u:p@tsa.example:8443/a/b?token=s3cret#frag", "https://tsa.example:8443/a/b"},
		{"https://tsa.example/tsa?", "https://tsa.example/tsa"},
		{"http://[::1", ""},
	} {
		if got := redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestSHA1Refused: a token whose message imprint is SHA-1 is refused,
// whether the caller names no hash (as the bundle verifier does) or names
// SHA-1 itself; SHA-384 stays accepted.
func TestSHA1Refused(t *testing.T) {
	a := tsatest.Start(t, tsatest.Options{ESSCertIDAlg: "sha256", Name: "TSA SHA-1"})
	pool, err := PoolFromPEM(a.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("checkpoint bytes\n")
	reply := func(h crypto.Hash) []byte {
		t.Helper()
		d := h.New()
		d.Write(data)
		q, err := (&timestamp.Request{HashAlgorithm: h, HashedMessage: d.Sum(nil), Certificates: true}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := a.Reply(q)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	sha1Resp := reply(crypto.SHA1)
	if ts, err := timestamp.ParseResponse(sha1Resp); err != nil || ts.HashAlgorithm != crypto.SHA1 {
		t.Fatalf("the authority didn't make a SHA-1 token: %v", err)
	}
	for _, tc := range []struct {
		name string
		opts VerifyOptions
	}{
		{"data, no hash", VerifyOptions{Data: data, Roots: pool}},
		{"data, SHA-1", VerifyOptions{Data: data, Hash: crypto.SHA1, Roots: pool}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(sha1Resp, tc.opts)
			if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "is not accepted") {
				t.Errorf("err = %v, want the SHA-1 token refused", err)
			}
		})
	}
	if _, err := Verify(reply(crypto.SHA384), VerifyOptions{Data: data, Roots: pool}); err != nil {
		t.Errorf("a SHA-384 token: %v", err)
	}
}

// Package tsatest runs a real RFC 3161 time-stamping authority for tests:
// `openssl ts -reply` behind an HTTP handler on loopback, with a CA and a
// TSA certificate made by `openssl req`/`openssl x509` from a config file
// in the test's temporary directory.
package tsatest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Authority is a running test TSA.
type Authority struct {
	// URL is where it answers RFC 3161 requests (POST application/timestamp-query).
	URL string
	// Dir holds ca.pem, ca.key, tsa.pem, tsa.key, tsa.cnf and the serial file.
	Dir string
	// CAFile and CertFile are the root and the TSA's certificate (PEM).
	CAFile, CertFile string
	// CAPEM is the content of CAFile.
	CAPEM []byte
	// Rewrite, if set, changes each query before openssl answers it (to
	// make wrong answers: another digest, another nonce).
	Rewrite func(query []byte) []byte
	// Requests counts the queries answered.
	Requests int

	mu sync.Mutex
}

// Options choose how the authority signs.
type Options struct {
	// ESSCertIDAlg is openssl's ess_cert_id_alg: "sha256" makes an RFC 5816
	// ESSCertIDv2, "sha1" (the default) an RFC 3161 ESSCertID.
	ESSCertIDAlg string
	// Name is the TSA certificate's common name.
	Name string
}

const cnf = `
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ tsa_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ server_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = %[1]s
serial = %[1]s/serial
crypto_device = builtin
signer_cert = %[1]s/tsa.pem
certs = %[1]s/ca.pem
signer_key = %[1]s/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
other_policies = 1.3.6.1.4.1.99999.2
# sha1 too, so that tests can check a SHA-1 token is refused.
digests = sha256, sha384, sha512, sha1
accuracy = secs:1
clock_precision_digits = 0
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = %[2]s
`

// Run runs openssl with args in dir, failing the test on error.
func Run(t testing.TB, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return out
}

// Start makes a CA and a TSA certificate and serves RFC 3161 on loopback
// until the test ends.
func Start(t testing.TB, o Options) *Authority {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed for the time-stamping tests: %v", err)
	}
	if o.ESSCertIDAlg == "" {
		o.ESSCertIDAlg = "sha1"
	}
	if o.Name == "" {
		o.Name = "Vallum Test TSA"
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tsa.cnf"), fmt.Appendf(nil, cnf, dir, o.ESSCertIDAlg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "serial"), []byte("01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	Run(t, dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
		"-days", "3650", "-subj", "/CN="+o.Name+" Root", "-config", "tsa.cnf", "-extensions", "v3_ca")
	Run(t, dir, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
		"-subj", "/CN="+o.Name, "-config", "tsa.cnf")
	Run(t, dir, "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "2",
		"-out", "tsa.pem", "-days", "365", "-extfile", "tsa.cnf", "-extensions", "tsa_ext")
	a := &Authority{Dir: dir, CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "tsa.pem")}
	var err error
	if a.CAPEM, err = os.ReadFile(a.CAFile); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	return a
}

func (a *Authority) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "want POST application/timestamp-query", http.StatusBadRequest)
		return
	}
	q, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Rewrite != nil {
		q = a.Rewrite(q)
	}
	resp, err := a.Reply(q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a.Requests++
	w.Header().Set("Content-Type", "application/timestamp-reply")
	w.Write(resp)
}

// Reply answers a DER query with `openssl ts -reply`, signed by the TSA
// certificate with the CA in the chain.
func (a *Authority) Reply(query []byte) ([]byte, error) {
	return a.ReplyWith(query, "tsa.pem", "tsa.key")
}

// ReplyWith is Reply signed with another certificate and key of Dir.
func (a *Authority) ReplyWith(query []byte, cert, key string) ([]byte, error) {
	tmp, err := os.MkdirTemp(a.Dir, "q")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	qf, rf := filepath.Join(tmp, "q.tsq"), filepath.Join(tmp, "r.tsr")
	if err := os.WriteFile(qf, query, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("openssl", "ts", "-reply", "-queryfile", qf, "-config", filepath.Join(a.Dir, "tsa.cnf"),
		"-inkey", filepath.Join(a.Dir, key), "-signer", filepath.Join(a.Dir, cert), "-chain", a.CAFile, "-out", rf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("openssl ts -reply: %v: %s", err, stderr.Bytes())
	}
	return os.ReadFile(rf)
}

// SetRewrite sets Rewrite under the authority's lock.
func (a *Authority) SetRewrite(f func([]byte) []byte) {
	a.mu.Lock()
	a.Rewrite = f
	a.mu.Unlock()
}

// IssueGo issues, with Go's x509 and the authority's CA key, a certificate
// for the TSA key named name+".pem" in Dir: with the given extended key
// usages (critical when critical is set) and validity. It returns the
// certificate and the TSA's private key.
func (a *Authority) IssueGo(t testing.TB, name string, eku []x509.ExtKeyUsage, critical bool, notBefore, notAfter time.Time) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	caCert := readCert(t, a.CAFile)
	caKey := readKey(t, filepath.Join(a.Dir, "ca.key"))
	key := readKey(t, filepath.Join(a.Dir, "tsa.key"))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "Vallum Test TSA " + name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	if critical {
		// Go writes extended key usage as non-critical; re-issue with the
		// extension marked critical by hand.
		c, _ := x509.ParseCertificate(der)
		tmpl.ExtKeyUsage = nil
		for _, e := range c.Extensions {
			if e.Id.Equal([]int{2, 5, 29, 37}) {
				e.Critical = true
				tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, e)
			}
		}
		if der, err = x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.Dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func readCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(readPEM(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readKey(t testing.TB, path string) crypto.Signer {
	t.Helper()
	k, err := x509.ParsePKCS8PrivateKey(readPEM(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

// readPEM returns the bytes of the first PEM block in the file at path.
func readPEM(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pem.Decode(b)
	if p == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	return p.Bytes
}

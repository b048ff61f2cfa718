package httppot

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"time"
)

// certFile is the honeypot's certificate and key, PEM, in its directory.
const certFile = "http-tls.pem"

// loadOrCreateCert loads the certificate at path, or makes a self-signed
// ECDSA P-256 one for host valid ten years and writes it (mode 0600), so
// the honeypot keeps one certificate across restarts: a fresh one per
// start would tell scanners it is a decoy.
func loadOrCreateCert(path, host string) (tls.Certificate, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		cert, err := tls.X509KeyPair(b, b)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("couldn't read the certificate in %s: %w (move it away to make a new one)", path, err)
		}
		return cert, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("couldn't read the certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now().Add(-time.Duration(30+serial.Int64()%300) * 24 * time.Hour).Truncate(24 * time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             now,
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	out := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("couldn't write the certificate: %w", err)
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		return tls.Certificate{}, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return tls.Certificate{}, err
	}
	if err := f.Close(); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(out, out)
}

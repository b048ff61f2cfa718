// Package tsa is Vallum's RFC 3161 time-stamping client: it builds
// time-stamp requests, sends them to one or more authorities, and verifies
// the responses per RFC 3161 and RFC 5816 (ESSCertIDv2) before anything is
// stored. It anchors the evidence log's signed checkpoints: on a schedule
// when the log changed and at incident milestones (Anchorer), keeping each
// token in SQLite (Store) and logging it as an "anchor" evidence entry.
//
// The ASN.1 and CMS work is done by github.com/digitorus/timestamp and
// github.com/digitorus/pkcs7; this package adds what they leave to the
// caller: the imprint and nonce match, the certificate chain to a
// configured root at the time of stamping, the TSA certificate's critical
// id-kp-timeStamping extended key usage, and the signing-certificate
// attribute (ESSCertID or ESSCertIDv2) binding the signature to that
// certificate.
package tsa

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	_ "crypto/sha512" // SHA-384 and SHA-512 imprints

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// MaxResponse bounds a time-stamp response read from an authority or a
// bundle.
const MaxResponse = 256 << 10

// ErrVerify is wrapped by every verification failure.
var ErrVerify = errors.New("time-stamp doesn't verify")

// Object identifiers checked by Verify.
var (
	oidSigningCertificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidExtKeyUsage          = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
)

// HashByName maps the configuration's hash names to hashes.
var HashByName = map[string]crypto.Hash{"sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}

// HashName returns the configuration name of h.
func HashName(h crypto.Hash) string {
	for n, x := range HashByName {
		if x == h {
			return n
		}
	}
	return h.String()
}

// Request is a time-stamp request made by NewRequest.
type Request struct {
	// DER is the TimeStampReq to send.
	DER    []byte
	Hash   crypto.Hash
	Digest []byte
	Nonce  *big.Int
}

// NewRequest returns a request for data's digest under h, with a random
// 64-bit nonce and certReq set, so that the response carries the TSA's
// certificate.
func NewRequest(data []byte, h crypto.Hash) (*Request, error) {
	if !h.Available() {
		return nil, fmt.Errorf("hash %v is not available", h)
	}
	d := h.New()
	d.Write(data)
	var nb [8]byte
	rand.Read(nb[:])
	nonce := new(big.Int).SetBytes(nb[:])
	r := &timestamp.Request{HashAlgorithm: h, HashedMessage: d.Sum(nil), Certificates: true, Nonce: nonce}
	der, err := r.Marshal()
	if err != nil {
		return nil, fmt.Errorf("couldn't encode time-stamp request: %w", err)
	}
	return &Request{DER: der, Hash: h, Digest: r.HashedMessage, Nonce: nonce}, nil
}

// Token is a verified time-stamp.
type Token struct {
	// Response is the DER TimeStampResp as the authority sent it (what
	// `openssl ts -verify -in` reads).
	Response []byte
	Time     time.Time
	Accuracy time.Duration
	Serial   *big.Int
	Policy   string
	Hash     crypto.Hash
	Digest   []byte
	Nonce    *big.Int
	// Signer is the TSA certificate; Chain the path to the trusted root,
	// signer first.
	Signer *x509.Certificate
	Chain  []*x509.Certificate
	// ESSCertIDv2 reports that the signature is bound to Signer by an
	// RFC 5816 ESSCertIDv2 (otherwise by an RFC 3161 ESSCertID, SHA-1).
	ESSCertIDv2 bool
	// Qualified reports the qcStatements extension of an eIDAS qualified
	// time-stamp in the token.
	Qualified bool
}

// VerifyOptions say what a response must match.
type VerifyOptions struct {
	// Data is the stamped data; or give Hash and Digest. Hash must be
	// SHA-256, SHA-384 or SHA-512; with Data and no Hash the token's own
	// algorithm is used if it is one of these. A token naming another
	// algorithm, SHA-1 in particular, is refused.
	Data   []byte
	Hash   crypto.Hash
	Digest []byte
	// Nonce, if set, must be the response's nonce.
	Nonce *big.Int
	// Roots are the trusted root certificates of the authority.
	Roots *x509.CertPool
	// Intermediates are extra untrusted certificates to build the chain.
	Intermediates []*x509.Certificate
}

// allowedHash reports whether h is a message-imprint algorithm Verify
// accepts: SHA-1 and weaker are not collision resistant.
func allowedHash(h crypto.Hash) bool {
	return h == crypto.SHA256 || h == crypto.SHA384 || h == crypto.SHA512
}

// Verify checks a DER TimeStampResp: a granted status, a CMS signature
// that verifies with the certificate it names, that certificate's chain to
// opts.Roots at the stamped time, its critical id-kp-timeStamping extended
// key usage (RFC 3161 §2.3), the signing-certificate attribute binding the
// signature to it (ESSCertID, or ESSCertIDv2 per RFC 5816), and the
// message imprint and nonce. It returns the token only if all hold.
func Verify(resp []byte, opts VerifyOptions) (*Token, error) {
	if len(resp) > MaxResponse {
		return nil, fmt.Errorf("%w: response is %d bytes, more than %d", ErrVerify, len(resp), MaxResponse)
	}
	if opts.Roots == nil {
		return nil, fmt.Errorf("%w: no trusted root certificate for the authority", ErrVerify)
	}
	ts, err := parseResponse(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	h, digest := opts.Hash, opts.Digest
	if h == 0 && opts.Data != nil {
		// The caller doesn't say: the token's algorithm, if it is one
		// of the accepted ones (an authority may be set to SHA-384).
		h = ts.HashAlgorithm
	}
	if !allowedHash(h) {
		return nil, fmt.Errorf("%w: hash %v is not accepted: want SHA-256, SHA-384 or SHA-512", ErrVerify, h)
	}
	if opts.Data != nil {
		if !h.Available() {
			return nil, fmt.Errorf("%w: hash %v is not available", ErrVerify, h)
		}
		d := h.New()
		d.Write(opts.Data)
		digest = d.Sum(nil)
	}
	if ts.HashAlgorithm != h {
		return nil, fmt.Errorf("%w: the token stamps a %v digest, want %v", ErrVerify, ts.HashAlgorithm, h)
	}
	if !bytes.Equal(ts.HashedMessage, digest) {
		return nil, fmt.Errorf("%w: the token stamps digest %x, not the data's %x", ErrVerify, ts.HashedMessage, digest)
	}
	if opts.Nonce != nil && (ts.Nonce == nil || ts.Nonce.Cmp(opts.Nonce) != 0) {
		return nil, fmt.Errorf("%w: nonce %v, the request sent %v", ErrVerify, ts.Nonce, opts.Nonce)
	}
	p7, err := pkcs7.Parse(ts.RawToken)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerify, err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil {
		return nil, fmt.Errorf("%w: the token must have exactly one signer whose certificate it carries", ErrVerify)
	}
	if err := checkEKU(signer); err != nil {
		return nil, err
	}
	v2, err := checkSigningCertificate(p7, signer)
	if err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	for _, c := range p7.Certificates {
		inter.AddCert(c)
	}
	for _, c := range opts.Intermediates {
		inter.AddCert(c)
	}
	chains, err := signer.Verify(x509.VerifyOptions{
		Roots: opts.Roots, Intermediates: inter, CurrentTime: ts.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: TSA certificate %q at %s: %v", ErrVerify, signer.Subject.CommonName, ts.Time.UTC().Format(time.RFC3339), err)
	}
	return &Token{
		Response: resp, Time: ts.Time, Accuracy: ts.Accuracy, Serial: ts.SerialNumber,
		Policy: ts.Policy.String(), Hash: ts.HashAlgorithm, Digest: ts.HashedMessage, Nonce: ts.Nonce,
		Signer: signer, Chain: chains[0], ESSCertIDv2: v2, Qualified: ts.Qualified,
	}, nil
}

// parseResponse parses and checks the CMS signature of a response,
// turning the library's panics on hostile input into errors.
func parseResponse(resp []byte) (ts *timestamp.Timestamp, err error) {
	defer func() {
		if r := recover(); r != nil {
			ts, err = nil, fmt.Errorf("malformed time-stamp response: %v", r)
		}
	}()
	ts, err = timestamp.ParseResponse(resp)
	if err != nil {
		return nil, fmt.Errorf("response: %v", err)
	}
	if !ts.AddTSACertificate {
		return nil, errors.New("the token carries no TSA certificate, so its signature can't be checked")
	}
	return ts, nil
}

// checkEKU requires exactly one extended key usage, id-kp-timeStamping, in
// a critical extension (RFC 3161 §2.3).
func checkEKU(c *x509.Certificate) error {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidExtKeyUsage) {
			if !e.Critical {
				return fmt.Errorf("%w: TSA certificate %q: its extended key usage extension is not critical", ErrVerify, c.Subject.CommonName)
			}
			if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(c.UnknownExtKeyUsage) != 0 {
				return fmt.Errorf("%w: TSA certificate %q: extended key usage must be id-kp-timeStamping only", ErrVerify, c.Subject.CommonName)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: TSA certificate %q has no id-kp-timeStamping extended key usage", ErrVerify, c.Subject.CommonName)
}

// ESS structures (RFC 2634, RFC 5035).
type essIssuerSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type essCertID struct {
	CertHash     []byte
	IssuerSerial essIssuerSerial `asn1:"optional"`
}

type essSigningCertificate struct {
	Certs    []essCertID
	Policies asn1.RawValue `asn1:"optional"`
}

type essCertIDv2 struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
	CertHash      []byte
	IssuerSerial  essIssuerSerial `asn1:"optional"`
}

type essSigningCertificateV2 struct {
	Certs    []essCertIDv2
	Policies asn1.RawValue `asn1:"optional"`
}

// checkSigningCertificate finds the signing-certificate attribute
// (ESSCertIDv2 preferred) and checks that its first certificate hash is
// the signer's. It reports whether it was ESSCertIDv2.
func checkSigningCertificate(p7 *pkcs7.PKCS7, signer *x509.Certificate) (bool, error) {
	var v2 essSigningCertificateV2
	if err := p7.UnmarshalSignedAttribute(oidSigningCertificateV2, &v2); err == nil {
		if len(v2.Certs) == 0 {
			return true, fmt.Errorf("%w: empty ESSCertIDv2 attribute", ErrVerify)
		}
		id := v2.Certs[0]
		h := crypto.SHA256
		if len(id.HashAlgorithm.Algorithm) > 0 && !id.HashAlgorithm.Algorithm.Equal(oidSHA256) {
			var ok bool
			if h, ok = hashOfOID(id.HashAlgorithm.Algorithm); !ok {
				return true, fmt.Errorf("%w: ESSCertIDv2 uses unknown hash %v", ErrVerify, id.HashAlgorithm.Algorithm)
			}
		}
		d := h.New()
		d.Write(signer.Raw)
		if !bytes.Equal(d.Sum(nil), id.CertHash) {
			return true, fmt.Errorf("%w: ESSCertIDv2 names another certificate than the signer %q", ErrVerify, signer.Subject.CommonName)
		}
		if err := checkIssuerSerial(id.IssuerSerial, signer); err != nil {
			return true, err
		}
		return true, nil
	}
	var v1 essSigningCertificate
	if err := p7.UnmarshalSignedAttribute(oidSigningCertificate, &v1); err != nil {
		return false, fmt.Errorf("%w: no signing-certificate attribute (ESSCertID or ESSCertIDv2)", ErrVerify)
	}
	if len(v1.Certs) == 0 {
		return false, fmt.Errorf("%w: empty ESSCertID attribute", ErrVerify)
	}
	sum := sha1.Sum(signer.Raw)
	if !bytes.Equal(sum[:], v1.Certs[0].CertHash) {
		return false, fmt.Errorf("%w: ESSCertID names another certificate than the signer %q", ErrVerify, signer.Subject.CommonName)
	}
	return false, checkIssuerSerial(v1.Certs[0].IssuerSerial, signer)
}

func checkIssuerSerial(is essIssuerSerial, signer *x509.Certificate) error {
	if is.Serial != nil && is.Serial.Cmp(signer.SerialNumber) != 0 {
		return fmt.Errorf("%w: the signing-certificate attribute names serial %v, the signer's is %v", ErrVerify, is.Serial, signer.SerialNumber)
	}
	return nil
}

func hashOfOID(o asn1.ObjectIdentifier) (crypto.Hash, bool) {
	for h, x := range map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA256: oidSHA256,
		crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
		crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
	} {
		if o.Equal(x) {
			return h, true
		}
	}
	return 0, false
}

// ParsePEMCerts parses every CERTIFICATE block of b.
func ParsePEMCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var p *pem.Block
		p, b = pem.Decode(b)
		if p == nil {
			break
		}
		if p.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(p.Bytes)
		if err != nil {
			return nil, fmt.Errorf("couldn't parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// PoolFromPEM returns a pool of the certificates in b.
func PoolFromPEM(b []byte) (*x509.CertPool, error) {
	cs, err := ParsePEMCerts(b)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	for _, c := range cs {
		p.AddCert(c)
	}
	return p, nil
}

// EncodePEM returns the certificates in PEM.
func EncodePEM(cs []*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range cs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// SHA256Hex returns the lowercase hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

package sshpot

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/vallum/vallum/internal/atomicfile"
)

// hostKeyFiles names each host key type's file, as OpenSSH names them.
var hostKeyFiles = map[string]string{
	"ed25519": "ssh_host_ed25519_key",
	"ecdsa":   "ssh_host_ecdsa_key",
	"rsa":     "ssh_host_rsa_key",
}

// hostKeyTypes are the ssh.PublicKey types each configured type yields.
var hostKeyTypes = map[string]string{
	"ed25519": ssh.KeyAlgoED25519,
	"ecdsa":   ssh.KeyAlgoECDSA256,
	"rsa":     ssh.KeyAlgoRSA,
}

// loadHostKeys reads the host keys of the given types from dir,
// generating (and persisting) any that are missing. created lists the
// files made now.
func loadHostKeys(dir string, types []string, comment string) (signers []ssh.Signer, created []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("couldn't create host key directory: %w", err)
	}
	for _, t := range types {
		p := filepath.Join(dir, hostKeyFiles[t])
		s, made, err := loadOrCreateHostKey(p, t, comment)
		if err != nil {
			return nil, nil, err
		}
		if made {
			created = append(created, p)
		}
		signers = append(signers, s)
	}
	return signers, created, nil
}

func loadOrCreateHostKey(path, typ, comment string) (ssh.Signer, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, false, fmt.Errorf("host key %s is malformed: %w", path, err)
		}
		if got := s.PublicKey().Type(); got != hostKeyTypes[typ] {
			return nil, false, fmt.Errorf("host key %s is %s, want %s", path, got, hostKeyTypes[typ])
		}
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("couldn't read host key: %w", err)
	}
	var key crypto.Signer
	switch typ {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, false, fmt.Errorf("unknown host key type %q", typ)
	}
	if err != nil {
		return nil, false, fmt.Errorf("couldn't generate %s host key: %w", typ, err)
	}
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return nil, false, fmt.Errorf("couldn't encode %s host key: %w", typ, err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, false, err
	}
	if err := atomicfile.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, false, err
	}
	pub := append(ssh.MarshalAuthorizedKey(s.PublicKey()), nil...)
	pub = append(pub[:len(pub)-1], []byte(" "+comment+"\n")...)
	if err := atomicfile.WriteFile(path+".pub", pub, 0o644); err != nil {
		return nil, false, err
	}
	return s, true, nil
}

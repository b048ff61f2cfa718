package evidence

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Key file names in the data directory.
const (
	KeyFile  = "log.key"  // the private signer key, mode 0600
	VKeyFile = "log.vkey" // the public verifier key
)

// Keys are the log's checkpoint keys. The origin is the key's name.
type Keys struct {
	Origin   string
	Signer   note.Signer
	Verifier note.Verifier
	VKey     string
}

// LoadOrCreateKeys reads the log key from dir, or generates an Ed25519 key
// on first start (mode 0600). origin, if not empty, must match the existing
// key's name; on first start it becomes the name (default
// "vallum.local/<random hex>"). created reports a new key.
func LoadOrCreateKeys(dir, origin string) (k Keys, created bool, err error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if origin == "" {
			var r [6]byte
			rand.Read(r[:])
			origin = "vallum.local/" + hex.EncodeToString(r[:])
		}
		skey, vkey, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			return k, false, fmt.Errorf("couldn't generate log key for origin %q: %w", origin, err)
		}
		if err := writeFileSync(path, []byte(skey+"\n"), 0o600); err != nil {
			return k, false, err
		}
		if err := writeFileSync(filepath.Join(dir, VKeyFile), []byte(vkey+"\n"), 0o644); err != nil {
			return k, false, err
		}
		b, created = []byte(skey), true
	} else if err != nil {
		return k, false, fmt.Errorf("couldn't read log key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return k, false, fmt.Errorf("log key %s is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
	}
	skey := strings.TrimSpace(string(b))
	k.Signer, err = note.NewSigner(skey)
	if err != nil {
		return k, false, fmt.Errorf("log key %s is malformed: %w", path, err)
	}
	k.Origin = k.Signer.Name()
	if origin != "" && origin != k.Origin {
		return k, false, fmt.Errorf("configured log origin %q differs from %q, the origin the log was created with", origin, k.Origin)
	}
	vb, err := os.ReadFile(filepath.Join(dir, VKeyFile))
	if err != nil {
		return k, false, fmt.Errorf("couldn't read verifier key: %w", err)
	}
	k.VKey = strings.TrimSpace(string(vb))
	k.Verifier, err = note.NewVerifier(k.VKey)
	if err != nil {
		return k, false, fmt.Errorf("verifier key is malformed: %w", err)
	}
	if k.Verifier.Name() != k.Origin || k.Verifier.KeyHash() != k.Signer.KeyHash() {
		return k, false, errors.New("verifier key doesn't belong to the log key")
	}
	return k, created, nil
}

// ReadVerifierKey reads a verifier key file (vkey form).
func ReadVerifierKey(path string) (note.Verifier, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("couldn't read verifier key: %w", err)
	}
	vkey := strings.TrimSpace(string(b))
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, "", fmt.Errorf("verifier key %s is malformed: %w", path, err)
	}
	return v, vkey, nil
}

// writeFileSync creates path exclusively with mode, writes b and syncs.
func writeFileSync(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("couldn't create %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("couldn't sync %s: %w", path, err)
	}
	return f.Close()
}

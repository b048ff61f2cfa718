package tcppot

import (
	"crypto/sha256"
	"encoding/hex"
	"io"

	"github.com/vallum/vallum/internal/sensor"
)

// hashOnly reads r to the end and returns the reference of its bytes
// without keeping them (no quarantine configured).
func hashOnly(name string, r io.Reader) (sensor.PayloadRef, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return sensor.PayloadRef{}, err
	}
	return sensor.PayloadRef{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Name: clip(name, 512)}, nil
}

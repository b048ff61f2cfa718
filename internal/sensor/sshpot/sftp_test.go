package sshpot

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

// TestSFTPDeclaredLengthNotAllocated sends only a packet length of 256 KiB
// (as a client that then idles would) and counts the bytes allocated.
func TestSFTPDeclaredLengthNotAllocated(t *testing.T) {
	hdr := []byte{byte(maxSFTPPacket >> 24), maxSFTPPacket >> 16 & 0xff, maxSFTPPacket >> 8 & 0xff, maxSFTPPacket & 0xff}
	const runs = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		if _, err := readSFTPPacket(bytes.NewReader(hdr), nil); err != io.EOF {
			t.Fatalf("a length alone: err %v, want EOF", err)
		}
	}
	runtime.ReadMemStats(&after)
	if got := (after.TotalAlloc - before.TotalAlloc) / runs; got >= maxSFTPPacket/8 {
		t.Errorf("%d bytes allocated per length of %d, want under %d", got, maxSFTPPacket, maxSFTPPacket/8)
	}
	body := []byte{1, 0, 0, 0, 3}
	got, err := readSFTPPacket(bytes.NewReader(append([]byte{0, 0, 0, 5}, body...)), nil)
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("readSFTPPacket = %v, %v, want %v", got, err, body)
	}
	if _, err := readSFTPPacket(bytes.NewReader([]byte{0, 0, 0, 0}), nil); !errors.Is(err, errSFTPLength) {
		t.Errorf("length 0: err %v, want %v", err, errSFTPLength)
	}
}

package sensor

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestAppendFull(t *testing.T) {
	src := strings.Repeat("0123456789", 2000)
	got, err := AppendFull(strings.NewReader(src), []byte("x"), len(src))
	if err != nil || string(got) != "x"+src {
		t.Errorf("AppendFull = %d bytes, %v; want %d bytes", len(got), err, 1+len(src))
	}
	got, err = AppendFull(strings.NewReader("abc"), nil, 1<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(got) != "abc" {
		t.Errorf("short read: got %q, %v; want \"abc\", unexpected EOF", got, err)
	}
	if cap(got) > readChunk {
		t.Errorf("declared 1 MiB, sent 3 bytes: buffer of %d bytes, want at most %d", cap(got), readChunk)
	}
	if got, err := AppendFull(bytes.NewReader(nil), nil, 0); err != nil || len(got) != 0 {
		t.Errorf("n=0: got %q, %v", got, err)
	}
	if _, err := AppendFull(bytes.NewReader(nil), nil, 10); err != io.EOF {
		t.Errorf("nothing sent: err %v, want EOF", err)
	}
	if _, err := AppendFull(strings.NewReader(strings.Repeat("x", readChunk)), nil, 2*readChunk); err != io.ErrUnexpectedEOF {
		t.Errorf("one chunk of two sent: err %v, want unexpected EOF", err)
	}
}

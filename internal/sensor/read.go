package sensor

import (
	"io"
	"slices"
)

// readChunk is how much AppendFull asks for at a time.
const readChunk = 4 << 10

// AppendFull reads exactly n bytes from r and appends them to b. It grows
// b only as the bytes arrive, at most 4 KiB ahead of them, so a length
// field that a client declares and never fills costs no memory. As with
// io.ReadFull, the error is io.EOF only if no byte was read and
// io.ErrUnexpectedEOF if some were; b is returned with what was read.
func AppendFull(r io.Reader, b []byte, n int) ([]byte, error) {
	from, want := len(b), len(b)+n
	for len(b) < want {
		chunk := min(want-len(b), readChunk)
		b = slices.Grow(b, chunk)
		start := len(b)
		got, err := io.ReadFull(r, b[start:start+chunk])
		b = b[:start+got]
		if err == io.EOF && len(b) > from {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

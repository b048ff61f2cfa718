package evidence

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// TileHeight is the height of C2SP tlog-tiles: 256 hashes per full tile.
const TileHeight = 8

// ParseTilePath parses a C2SP tlog-tiles path below the log prefix:
// "tile/<L>/<N>[.p/<W>]" for hash tiles or "tile/entries/<N>[.p/<W>]" for
// entry bundles (returned with L == -1). Only the canonical encoding is
// accepted.
func ParseTilePath(path string) (tlog.Tile, error) {
	rest, ok := strings.CutPrefix(path, "tile/")
	if !ok {
		return tlog.Tile{}, fmt.Errorf("malformed tile path %q", path)
	}
	// x/mod's sumdb paths carry the height ("tile/8/L/N", "tile/8/data/N");
	// C2SP fixes it at 8 and calls data tiles "entries".
	var sumdb string
	if r, ok := strings.CutPrefix(rest, "entries/"); ok {
		sumdb = "tile/8/data/" + r
	} else if strings.HasPrefix(rest, "data/") {
		return tlog.Tile{}, fmt.Errorf("malformed tile path %q", path)
	} else {
		sumdb = "tile/8/" + rest
	}
	t, err := tlog.ParseTilePath(sumdb)
	if err != nil {
		return tlog.Tile{}, fmt.Errorf("malformed tile path %q", path)
	}
	if t.L > 63 {
		return tlog.Tile{}, fmt.Errorf("malformed tile path %q: level %d", path, t.L)
	}
	return t, nil
}

// TilePath returns the C2SP tlog-tiles path of t (L == -1 for entry
// bundles).
func TilePath(t tlog.Tile) string {
	p := t.Path() // "tile/8/L/N" or "tile/8/data/N"
	p = strings.TrimPrefix(p, "tile/8/")
	if r, ok := strings.CutPrefix(p, "data/"); ok {
		return "tile/entries/" + r
	}
	return "tile/" + p
}

// AppendEntryBundleEntry appends one entry to a C2SP entry bundle: a
// big-endian 16-bit length and the entry's bytes.
func AppendEntryBundleEntry(bundle, entry []byte) []byte {
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...)
}

// SplitEntryBundle splits a C2SP entry bundle into its entries.
func SplitEntryBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("malformed entry bundle: %d trailing bytes", len(b))
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return nil, fmt.Errorf("malformed entry bundle: entry of %d bytes, %d left", n, len(b)-2)
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out, nil
}

// ReadTile returns the contents of tile t of the committed tree: hash
// tiles from the stored hashes, entry bundles from the headers. A tile must
// lie within the current tree (partial tiles of the right width only).
func (l *Log) ReadTile(t tlog.Tile) ([]byte, error) {
	if t.H != TileHeight || t.W < 1 || t.W > 1<<TileHeight {
		return nil, fmt.Errorf("%w: bad tile", ErrInvalid)
	}
	size := l.Size()
	level := t.L
	if level < 0 {
		level = 0
	}
	// The tile's last entry at level 0 must be within the tree.
	shift := uint(TileHeight * level)
	if shift >= 63 {
		return nil, fmt.Errorf("tile %s: %w", TilePath(t), ErrNotFound)
	}
	end := (t.N<<TileHeight + int64(t.W)) << shift
	if t.N > (size>>shift)>>TileHeight || end > size || end <= 0 {
		return nil, fmt.Errorf("tile %s: %w", TilePath(t), ErrNotFound)
	}
	if t.L >= 0 {
		return tlog.ReadTileData(t, l.cfg.Storage)
	}
	var b []byte
	for i := t.N << TileHeight; i < t.N<<TileHeight+int64(t.W); i++ {
		e, err := l.cfg.Storage.ReadEntry(i)
		if err != nil {
			return nil, err
		}
		b = AppendEntryBundleEntry(b, e.Header)
	}
	return b, nil
}

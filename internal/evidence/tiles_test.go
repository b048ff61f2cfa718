package evidence

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func TestTilePath(t *testing.T) {
	tests := []struct {
		path string
		tile tlog.Tile
	}{
		{"tile/0/000", tlog.Tile{H: 8, L: 0, N: 0, W: 256}},
		{"tile/0/001", tlog.Tile{H: 8, L: 0, N: 1, W: 256}},
		{"tile/0/999", tlog.Tile{H: 8, L: 0, N: 999, W: 256}},
		{"tile/0/x001/000", tlog.Tile{H: 8, L: 0, N: 1000, W: 256}},
		{"tile/0/x001/002", tlog.Tile{H: 8, L: 0, N: 1002, W: 256}},
		{"tile/1/x001/x234/067", tlog.Tile{H: 8, L: 1, N: 1234067, W: 256}},
		{"tile/3/000.p/1", tlog.Tile{H: 8, L: 3, N: 0, W: 1}},
		{"tile/0/x001/002.p/255", tlog.Tile{H: 8, L: 0, N: 1002, W: 255}},
		{"tile/entries/000", tlog.Tile{H: 8, L: -1, N: 0, W: 256}},
		{"tile/entries/x123/456.p/7", tlog.Tile{H: 8, L: -1, N: 123456, W: 7}},
		{"tile/63/000", tlog.Tile{H: 8, L: 63, N: 0, W: 256}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			got, err := ParseTilePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.tile {
				t.Errorf("ParseTilePath = %+v, want %+v", got, tc.tile)
			}
			if p := TilePath(tc.tile); p != tc.path {
				t.Errorf("TilePath(%+v) = %q, want %q", tc.tile, p, tc.path)
			}
		})
	}
}

func TestParseTilePathRejects(t *testing.T) {
	for _, path := range []string{
		"",
		"tile/",
		"tile/0",
		"tile/0/",
		"/tile/0/000",
		"tile/0/000/",
		"tile//000",
		"tiles/0/000",
		"tile/0/0",         // not three digits
		"tile/0/1",         // not three digits
		"tile/0/0001",      // four digits
		"tile/0/x000/002",  // leading zero group
		"tile/0/x001",      // last element with x
		"tile/0/001/002",   // inner element without x
		"tile/0/x1/002",    // short inner element
		"tile/0/x001/x002", // last element with x
		"tile/00/000",      // level with leading zero
		"tile/+1/000",      // level with sign
		"tile/-1/000",      // negative level
		"tile/64/000",      // level beyond a 64-bit tree
		"tile/a/000",       // level not a number
		"tile/0/00a",       // index not a number
		"tile/0/-01",       // negative index
		"tile/0/000.p/256", // full width written as partial
		"tile/0/000.p/0",   // empty partial tile
		"tile/0/000.p/01",  // width with leading zero
		"tile/0/000.p/",    // no width
		"tile/0/000.p",     // no width
		"tile/0/000.p/1/2", // trailing element
		"tile/0/000.p/-1",  // negative width
		"tile/8/0/000",     // x/mod's sumdb form with the height
		"tile/8/data/000",  // x/mod's data tile
		"tile/data/000",    // x/mod's data tile name
		"tile/entries/",    // no index
		"tile/entries/1",   // not three digits
		"tile/entries/000.p/256",
		"tile/entries/x000/001",
		"tile/entries/000/",
		"tile/0/000?x=1",
		"tile/0/000 ",
	} {
		if got, err := ParseTilePath(path); err == nil {
			t.Errorf("ParseTilePath(%q) = %+v, want an error", path, got)
		}
	}
}

func TestSplitEntryBundle(t *testing.T) {
	entries := [][]byte{[]byte(testHeaderJSON), {}, []byte("x"), bytes.Repeat([]byte("y"), 0xffff)}
	var bundle []byte
	for _, e := range entries {
		bundle = AppendEntryBundleEntry(bundle, e)
	}
	got, err := SplitEntryBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(entries) {
		t.Fatalf("got %d entries, want %d", len(got), len(entries))
	}
	for i := range entries {
		if !bytes.Equal(got[i], entries[i]) {
			t.Errorf("entry %d: got %d bytes, want %d", i, len(got[i]), len(entries[i]))
		}
	}
	if got, err := SplitEntryBundle(nil); err != nil || len(got) != 0 {
		t.Errorf("empty bundle: got %d entries, %v; want none", len(got), err)
	}

	for _, bad := range [][]byte{
		{0},                                  // half a length
		{0, 2, 'a'},                          // entry shorter than its length
		{0, 1, 'a', 0},                       // trailing byte
		{0xff, 0xff},                         // long entry missing
		append([]byte{0, 1, 'a'}, 0, 5, 'b'), // second entry short
	} {
		if got, err := SplitEntryBundle(bad); err == nil {
			t.Errorf("SplitEntryBundle(%q) = %q, want an error", bad, got)
		}
	}
}

func FuzzParseTilePath(f *testing.F) {
	for _, p := range []string{"tile/0/000", "tile/0/x001/002.p/3", "tile/entries/x123/456", "tile/entries/000.p/255", "tile/5/x001/x234/067", "tile/0/x000/002"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		tile, err := ParseTilePath(path)
		if err != nil {
			return
		}
		// Only the canonical path of a tile parses.
		if got := TilePath(tile); got != path {
			t.Fatalf("ParseTilePath(%q) = %+v, whose path is %q", path, tile, got)
		}
		if tile.H != TileHeight || tile.L < -1 || tile.L > 63 || tile.N < 0 || tile.W < 1 || tile.W > 1<<TileHeight {
			t.Fatalf("ParseTilePath(%q) = %+v", path, tile)
		}
		if strings.Contains(path, "/data/") {
			t.Fatalf("ParseTilePath accepted x/mod's data path %q", path)
		}
	})
}

func FuzzSplitEntryBundle(f *testing.F) {
	f.Add([]byte{})
	f.Add(AppendEntryBundleEntry(AppendEntryBundleEntry(nil, []byte(testHeaderJSON)), []byte("x")))
	f.Add([]byte{0, 5, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := SplitEntryBundle(b)
		if err != nil {
			return
		}
		// A bundle that splits is exactly its entries joined again.
		var again []byte
		for _, e := range entries {
			again = AppendEntryBundleEntry(again, e)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("SplitEntryBundle(%q) = %q, which joins as %q", b, entries, again)
		}
	})
}

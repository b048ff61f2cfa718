package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectListFormat(t *testing.T) {
	td := filepath.Join("..", "..", "internal", "sanctions", "testdata")
	lone := filepath.Join(t.TempDir(), "sdn.csv")
	if err := os.WriteFile(lone, []byte("1,\"X\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file, format, alt, err string
	}{
		{file: filepath.Join(td, "SDN.XML"), format: "ofac-xml"},
		{file: filepath.Join(td, "SDN_ADVANCED.XML"), format: "ofac-advanced"},
		{file: filepath.Join(td, "eu.xml"), format: "eu-xml"},
		{file: filepath.Join(td, "sdn.csv"), format: "ofac-csv", alt: filepath.Join(td, "alt.csv")},
		{file: filepath.Join(td, "SDN_wrong_root.XML"), err: "root element"},
		{file: lone, err: "no alt.csv beside it"},
		{file: filepath.Join(td, "missing.xml"), err: "couldn't read"},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			format, alt, err := detectListFormat(tc.file)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error mentioning %q", format, err, tc.err)
				}
				return
			}
			if err != nil || format != tc.format || alt != tc.alt {
				t.Errorf("got %q %q %v, want %q %q", format, alt, err, tc.format, tc.alt)
			}
		})
	}
}

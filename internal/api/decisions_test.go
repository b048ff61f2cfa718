package api

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/guard"
)

// TestPreviewFollowsReload: Guard.Preview answers with the rule pack and
// perimeter in force, so an edited perimeter file changes it only at the
// reload, as it changes the logged decisions.
func TestPreviewFollowsReload(t *testing.T) {
	perim := filepath.Join(t.TempDir(), "perimeter.yaml")
	without := strings.Replace(testPerimeter, "devices: [{name: fw-edge, kind: firewall}]", "devices: []", 1)
	if err := os.WriteFile(perim, []byte(without), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &Guard{PerimeterFile: perim}
	if err := g.Reload(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var req guard.Request
	req.Proposer = "paola"
	req.Action.Kind = "firewall_block"
	req.Action.Target = "203.0.113.9"
	req.Action.Params.Device = "fw-edge"
	verdict := func() guard.Verdict { return g.Preview(req, now).Verdict }
	if v := verdict(); v != guard.Deny {
		t.Fatalf("block on a device not in the perimeter: got %s, want deny", v)
	}
	if err := os.WriteFile(perim, []byte(testPerimeter), 0o600); err != nil {
		t.Fatal(err)
	}
	if v := verdict(); v != guard.Deny {
		t.Errorf("perimeter file edited, not reloaded: got %s, want deny (the perimeter in force)", v)
	}
	if err := g.Reload(); err != nil {
		t.Fatal(err)
	}
	if v := verdict(); v != guard.Allow {
		t.Errorf("after the reload: got %s, want allow", v)
	}
}

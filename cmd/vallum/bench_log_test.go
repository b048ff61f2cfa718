package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestBenchLog runs 'vallum bench log' one record a call and in batches:
// every entry is appended, and the log it wrote verifies offline.
func TestBenchLog(t *testing.T) {
	for _, batch := range []int{1, 64} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			r := runBin(t, "", "", "bench", "log", "--entries", "1000", "--writers", "3", "--batch", strconv.Itoa(batch), "--verify", "--json")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var res struct {
				Entries       int     `json:"entries"`
				Batch         int     `json:"batch"`
				AppendsPerSec float64 `json:"appends_per_sec"`
				Checkpoints   int     `json:"checkpoints"`
				VerifySummary string  `json:"verify_summary"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("%v: %s", err, r.stdout)
			}
			if res.Entries != 1000 || res.Batch != batch || res.AppendsPerSec <= 0 || res.Checkpoints < 1 {
				t.Errorf("result %+v", res)
			}
			if !strings.Contains(res.VerifySummary, "1000 entries") || strings.Contains(strings.ToLower(res.VerifySummary), "fail") {
				t.Errorf("offline verification of the benchmark log: %q", res.VerifySummary)
			}
		})
	}
	if r := runBin(t, "", "", "bench", "log", "--batch", "0"); r.code != 2 {
		t.Errorf("--batch 0: exit %d, want 2", r.code)
	}
}

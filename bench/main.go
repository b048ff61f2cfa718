// Command bench runs the same append workload against Vallum's evidence log
// (internal/evidence on internal/store file storage) and against Tessera
// v1.0.4 with its POSIX driver, and prints both figures and their ratio.
//
//	go run . --entries 200000 --writers 256 --payload 256
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/transparency-dev/tessera"
)

func main() {
	var s Settings
	flag.IntVar(&s.Entries, "entries", 200000, "entries to append to each system")
	flag.IntVar(&s.Writers, "writers", 256, "concurrent writers (goroutines appending in a loop)")
	flag.IntVar(&s.Payload, "payload", 256, "payload size in bytes (a JSON document)")
	flag.StringVar(&s.Dir, "dir", "", "directory for the logs (a new temporary directory if empty; removed afterwards unless --keep)")
	keep := flag.Bool("keep", false, "keep the log directories")
	asJSON := flag.Bool("json", false, "print the results as JSON")
	flag.DurationVar(&s.TesseraBatchAge, "tessera-batch-age", 10*time.Millisecond, "Tessera batch max age")
	flag.UintVar(&s.TesseraBatchSize, "tessera-batch-size", tessera.DefaultBatchMaxSize, "Tessera batch max size")
	flag.DurationVar(&s.TesseraCheckpoint, "tessera-checkpoint", 100*time.Millisecond, "Tessera checkpoint interval")
	flag.DurationVar(&s.TesseraCheckpointPol, "tessera-poll", time.Millisecond, "how often the Tessera checkpoint file is polled")
	flag.StringVar(&s.CPUProfile, "cpuprofile", "", "write a CPU profile of the Vallum side to this file")
	flag.StringVar(&s.Only, "only", "", "run only this system (vallum or tessera); no ratio is printed")
	flag.BoolVar(&s.TesseraFirst, "tessera-first", false, "run Tessera before Vallum (default: Vallum first)")
	flag.Parse()

	if s.Dir == "" {
		d, err := os.MkdirTemp("", "logbench-")
		if err != nil {
			fatal(err)
		}
		s.Dir = d
	} else if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		fatal(err)
	}
	if !*keep {
		defer os.RemoveAll(s.Dir)
	}

	v, t, err := Run(context.Background(), s, os.Stderr)
	if err != nil {
		if !*keep {
			os.RemoveAll(s.Dir)
		}
		fatal(err)
	}
	var results []*Result
	for _, r := range []*Result{v, t} {
		if r == nil {
			continue
		}
		if err := CheckIndexes(r, s.Entries); err != nil {
			fatal(err)
		}
		results = append(results, r)
	}
	if v == nil || t == nil {
		if *asJSON {
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(results); err != nil {
				fatal(err)
			}
			return
		}
		printTable(results)
		return
	}
	ratio := v.AppendsSec / t.AppendsSec
	cpRatio := t.P50Signed / v.P50Signed
	if *asJSON {
		out := map[string]any{
			"vallum":                          v,
			"tessera":                         t,
			"ratio_appends_vallum_tessera":    ratio,
			"ratio_p50_signed_tessera_vallum": cpRatio,
			"settings": map[string]any{
				"tessera_batch_age":  s.TesseraBatchAge.String(),
				"tessera_batch_size": s.TesseraBatchSize,
				"tessera_checkpoint": s.TesseraCheckpoint.String(),
				"tessera_poll":       s.TesseraCheckpointPol.String(),
			},
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fatal(err)
		}
		return
	}
	printTable(results)
	fmt.Printf("ratio vallum/tessera appends/s: %.2fx; p50 to signed checkpoint: tessera %.2fms / vallum %.2fms = %.1fx sooner\n",
		ratio, t.P50Signed, v.P50Signed, cpRatio)
	fmt.Printf("(tessera: batch age %s, batch size %d, checkpoint interval %s, checkpoint polled every %s)\n",
		s.TesseraBatchAge, s.TesseraBatchSize, s.TesseraCheckpoint, s.TesseraCheckpointPol)
}

func printTable(results []*Result) {
	fmt.Printf("%-8s %10s %9s %12s %12s %12s %12s %10s\n", "system", "appends/s", "seconds", "p50 durable", "p99 durable", "p50 signed", "p99 signed", "final cp")
	for _, r := range results {
		fmt.Printf("%-8s %10.0f %9.2f %10.2fms %10.2fms %10.2fms %10.2fms %10d\n",
			r.System, r.AppendsSec, r.Seconds, r.P50Durable, r.P99Durable, r.P50Signed, r.P99Signed, r.FinalSize)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/contain"
)

// runBenchContain is 'vallum bench contain': block decisions applied
// through Vallum's nftables connector in a fresh network namespace (the
// host's firewall is never touched). Needs root.
func runBenchContain(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "bench contain", "bench contain [--decisions N] [--batch B] [--workers W] [--timeout D] [--json]")
	decisions := fs.Int("decisions", 50000, "block decisions to apply (distinct IPv4 addresses)")
	batch := fs.Int("batch", 5000, "addresses per Block call (1: one decision per call)")
	workers := fs.Int("workers", 1, "concurrent callers (their calls are coalesced into netlink batches)")
	timeout := fs.Duration("timeout", time.Hour, "kernel timeout of each block")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *decisions < 1 || *batch < 1 || *workers < 1 || *decisions > 1<<22 || *timeout < time.Second {
		return &exitError{code: 2, err: fmt.Errorf("want --decisions between 1 and %d, --batch >= 1, --workers >= 1, --timeout >= 1s", 1<<22)}
	}
	path, closeNS, err := contain.NewNetNS()
	if err != nil {
		return withHint(err, "run it as root: it creates a network namespace and an nftables table inside it")
	}
	defer closeNS()
	n, err := contain.OpenNFTables(contain.NFTablesConfig{Device: "bench", NetNS: path})
	if err != nil {
		return err
	}
	defer n.Close()

	// Distinct addresses from 100.64.0.0/10.
	addrs := make([]netip.Prefix, *decisions)
	for i := range addrs {
		v := uint32(100<<24|64<<16) + uint32(i)
		addrs[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 32)
	}
	var chunks [][]netip.Prefix
	for i := 0; i < len(addrs); i += *batch {
		chunks = append(chunks, addrs[i:min(len(addrs), i+*batch)])
	}
	work := make(chan []netip.Prefix)
	var failed sync.Map
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				for i, err := range n.Block(ctx, c, *timeout) {
					if err != nil {
						failed.Store(c[i], err)
					}
				}
			}
		}()
	}
	for _, c := range chunks {
		work <- c
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	var first error
	nfail := 0
	failed.Range(func(_, v any) bool {
		nfail++
		if first == nil {
			first = v.(error)
		}
		return true
	})
	// Read the set back: the decisions must be in force.
	t := time.Now()
	ivs, err := n.Blocked()
	if err != nil {
		return err
	}
	readBack := time.Since(t)
	res := struct {
		Decisions    int           `json:"decisions"`
		Batch        int           `json:"batch"`
		Workers      int           `json:"workers"`
		Elapsed      time.Duration `json:"elapsed_ns"`
		PerSec       float64       `json:"decisions_per_sec"`
		Failed       int           `json:"failed"`
		InKernel     int           `json:"in_kernel"`
		ReadBack     time.Duration `json:"read_back_ns"`
		FirstFailure string        `json:"first_failure,omitempty"`
	}{*decisions, *batch, *workers, elapsed, float64(*decisions) / elapsed.Seconds(), nfail, len(ivs), readBack, ""}
	if first != nil {
		res.FirstFailure = first.Error()
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintf(env.stdout, "%s\n", b)
	} else {
		fmt.Fprintf(env.stdout, "vallum contain (nftables, fresh network namespace): %d decisions, %d per call, %d workers\n", res.Decisions, res.Batch, res.Workers)
		fmt.Fprintf(env.stdout, "  decisions/s         %.0f (%v)\n", res.PerSec, elapsed.Round(time.Millisecond))
		fmt.Fprintf(env.stdout, "  in the kernel       %d (read back in %v)\n", res.InKernel, readBack.Round(time.Millisecond))
		if nfail > 0 {
			fmt.Fprintf(env.stdout, "  failed              %d (first: %v)\n", nfail, first)
		}
	}
	if nfail > 0 || len(ivs) != *decisions {
		return fmt.Errorf("%d decisions failed, %d of %d in the kernel", nfail, len(ivs), *decisions)
	}
	return nil
}

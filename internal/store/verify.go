package store

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vallum/vallum/internal/evidence"
)

// VerifyFiles feeds the log file in dir to v, read-only. A torn tail (an
// incomplete batch left by a crash, which the server sets aside at its next
// start) is reported as a warning, not as tampering: it was never
// acknowledged.
func VerifyFiles(dir string, v *evidence.Verifier) error {
	path := filepath.Join(dir, LogFileName)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("couldn't open log file: %w", err)
	}
	defer f.Close()
	// One goroutine reads and decodes the file while this one checks the
	// batches already read.
	type batch struct {
		entries []evidence.Entry
		hashes  []Frame
		cp      []byte
	}
	batches := make(chan batch, 8)
	var pending []evidence.Entry
	var pendingHashes []Frame
	var lastCP []byte
	go func() {
		defer close(batches)
		err = ScanFrames(bufio.NewReaderSize(f, 1<<20), func(fr Frame) error {
			switch fr.Type {
			case frameEntry:
				pending = append(pending, fr.entry())
			case frameHashes:
				pendingHashes = append(pendingHashes, fr)
			case frameCheckpoint:
				batches <- batch{pending, pendingHashes, fr.Body}
				pending, pendingHashes = nil, nil
				lastCP = fr.Body
			}
			return nil
		})
	}()
	for b := range batches {
		for _, c := range checkEntries(b.entries) {
			v.Add(c)
		}
		for _, h := range b.hashes {
			v.Hashes(h.FirstHash, h.Hashes)
		}
		v.Checkpoint(b.cp)
	}
	var te *TornError
	var fe *FrameError
	if errors.As(err, &fe) {
		fi, serr := f.Stat()
		if serr != nil {
			return serr
		}
		if torn, terr := tornAfter(f, fe.Offset, fi.Size(), lastCP); terr == nil && torn {
			v.Warn("malformed bytes after the last signed checkpoint (%v): a torn write the server sets aside at its next start", fe)
			return nil
		}
	}
	if errors.As(err, &te) || (err == nil && (len(pending) > 0 || len(pendingHashes) > 0)) {
		n := len(pending)
		reason := "no checkpoint"
		if te != nil {
			reason = te.Error()
		}
		v.Warn("torn tail after the last signed checkpoint (%d unacknowledged entries, %s): a crash interrupted a batch before it was acknowledged; the server sets it aside at its next start", n, reason)
		return nil
	}
	if err != nil {
		v.Fail(-1, "log file is malformed: %v", err)
	}
	return nil
}

// checkEntries runs evidence.CheckEntries on the entries, split over all
// CPUs.
func checkEntries(es []evidence.Entry) []evidence.EntryCheck {
	workers := runtime.GOMAXPROCS(0)
	if len(es) < 64 || workers == 1 {
		return evidence.CheckEntries(es)
	}
	out := make([]evidence.EntryCheck, len(es))
	var wg sync.WaitGroup
	chunk := (len(es) + workers - 1) / workers
	for lo := 0; lo < len(es); lo += chunk {
		hi := min(lo+chunk, len(es))
		wg.Add(1)
		go func() {
			defer wg.Done()
			copy(out[lo:hi], evidence.CheckEntries(es[lo:hi]))
		}()
	}
	wg.Wait()
	return out
}

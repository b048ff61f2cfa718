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
	var pending []evidence.Entry
	var lastCP []byte
	var pendingHashes []Frame
	flush := func() {
		for _, c := range checkEntries(pending) {
			v.Add(c)
		}
		for _, h := range pendingHashes {
			v.Hashes(h.FirstHash, h.Hashes)
		}
		pending, pendingHashes = pending[:0], pendingHashes[:0]
	}
	err = ScanFrames(bufio.NewReaderSize(f, 1<<20), func(fr Frame) error {
		switch fr.Type {
		case frameEntry:
			pending = append(pending, fr.entry())
		case frameHashes:
			pendingHashes = append(pendingHashes, fr)
		case frameCheckpoint:
			flush()
			v.Checkpoint(fr.Body)
			lastCP = fr.Body
		}
		return nil
	})
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

// checkEntries runs evidence.CheckEntry on every entry, on all CPUs.
func checkEntries(es []evidence.Entry) []evidence.EntryCheck {
	out := make([]evidence.EntryCheck, len(es))
	workers := runtime.GOMAXPROCS(0)
	if len(es) < 64 || workers == 1 {
		for i, e := range es {
			out[i] = evidence.CheckEntry(e)
		}
		return out
	}
	var wg sync.WaitGroup
	chunk := (len(es) + workers - 1) / workers
	for lo := 0; lo < len(es); lo += chunk {
		hi := min(lo+chunk, len(es))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = evidence.CheckEntry(es[i])
			}
		}()
	}
	wg.Wait()
	return out
}

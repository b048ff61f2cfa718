package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the data directory's lock: one process at a time writes a
// data directory (the server, or an offline rebuild).
const lockFile = "vallum.lock"

// lockData takes the data directory's lock without waiting; the returned
// function releases it.
func lockData(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("couldn't open the data directory's lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, withHint(fmt.Errorf("another vallum process (a server or a rebuild) is using %s", dir), "stop it first; only one process may write a data directory")
		}
		return nil, fmt.Errorf("couldn't lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

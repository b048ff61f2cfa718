package contain

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// NewNetNS creates a fresh, empty network namespace (as root) without
// running any command: a locked OS thread unshares its network namespace,
// keeps a file descriptor to it and then exits with its goroutine, so no
// thread of the process is left in it. The namespace lives while the
// descriptor is open; path (/proc/self/fd/N) opens it, for
// NFTablesConfig.NetNS. close releases it. Used by 'vallum bench contain'
// to measure in isolation from the host's firewall.
func NewNetNS() (path string, close func() error, err error) {
	type res struct {
		fd  int
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends with this goroutine instead of
		// going back to the pool in the new namespace.
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- res{-1, err}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		ch <- res{fd, err}
	}()
	r := <-ch
	if r.err != nil {
		return "", nil, fmt.Errorf("couldn't create a network namespace (needs root): %w", r.err)
	}
	return fmt.Sprintf("/proc/self/fd/%d", r.fd), func() error { return unix.Close(r.fd) }, nil
}

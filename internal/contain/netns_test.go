package contain

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireRoot skips tests that need CAP_NET_ADMIN and namespaces.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (network namespaces and nftables); CI runs it as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: the ip command (iproute2) is not installed")
	}
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var nsSeq atomic.Int64

// topo is two namespaces joined by a veth pair: the attacker side "a"
// (with several source addresses) and the defended host "b", where
// Vallum enforces.
type topo struct {
	a, b string // namespace names
}

// Addresses of the topology.
const (
	bAddr4  = "10.77.0.2"
	aAddr4  = "10.77.1.1" // a single blocked host
	aAddr4b = "10.77.2.1" // in the /24 a CIDR block covers
	aAddr4c = "10.77.3.1" // never blocked: proves the rest still works
	mgmt4   = "10.77.9.9" // management address
	bAddr6  = "fd77::2"
	aAddr6  = "fd77::1"
	aAddr6b = "fd77::2:1" // in a blocked /112
	mgmt6   = "fd77::9:9" // IPv6 management address
)

func newTopo(t testing.TB) topo {
	t.Helper()
	requireRoot(t)
	id := fmt.Sprintf("%d-%d", os.Getpid()%100000, nsSeq.Add(1))
	tp := topo{a: "vla-" + id, b: "vlb-" + id}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", tp.a).Run()
		exec.Command("ip", "netns", "del", tp.b).Run()
	})
	run(t, "ip", "netns", "add", tp.a)
	run(t, "ip", "netns", "add", tp.b)
	va, vb := "va"+id, "vb"+id
	if len(va) > 15 {
		va, vb = va[:15], vb[:15]
	}
	run(t, "ip", "link", "add", va, "netns", tp.a, "type", "veth", "peer", "name", vb, "netns", tp.b)
	for _, c := range [][]string{
		{tp.a, "ip", "link", "set", "lo", "up"},
		{tp.b, "ip", "link", "set", "lo", "up"},
		{tp.a, "ip", "link", "set", va, "up"},
		{tp.b, "ip", "link", "set", vb, "up"},
		{tp.a, "ip", "addr", "add", aAddr4 + "/16", "dev", va},
		{tp.a, "ip", "addr", "add", aAddr4b + "/16", "dev", va},
		{tp.a, "ip", "addr", "add", aAddr4c + "/16", "dev", va},
		{tp.a, "ip", "addr", "add", mgmt4 + "/16", "dev", va},
		{tp.b, "ip", "addr", "add", bAddr4 + "/16", "dev", vb},
		{tp.a, "ip", "-6", "addr", "add", aAddr6 + "/64", "dev", va, "nodad"},
		{tp.a, "ip", "-6", "addr", "add", aAddr6b + "/64", "dev", va, "nodad"},
		{tp.a, "ip", "-6", "addr", "add", mgmt6 + "/64", "dev", va, "nodad"},
		{tp.b, "ip", "-6", "addr", "add", bAddr6 + "/64", "dev", vb, "nodad"},
	} {
		run(t, append([]string{"ip", "netns", "exec", c[0]}, c[1:]...)...)
	}
	return tp
}

func nsPath(name string) string { return "/var/run/netns/" + name }

// inNS runs f on an OS thread switched into namespace name; sockets
// created by f stay in that namespace.
func inNS(t testing.TB, name string, f func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(orig)
		fd, err := unix.Open(nsPath(name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it exits with the goroutine.
			done <- err
			return
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
}

// serveTCP listens on port 0 of every address in namespace ns and accepts
// and closes connections until the test ends. It returns the port.
func serveTCP(t testing.TB, ns string) int {
	t.Helper()
	var ln net.Listener
	var err error
	inNS(t, ns, func() { ln, err = net.Listen("tcp", "[::]:0") })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// reach reports whether a TCP connection from src (in namespace ns) to
// dst:port succeeds within a short timeout. A dropped SYN times out.
func reach(t testing.TB, ns, src, dst string, port int) bool {
	t.Helper()
	var conn net.Conn
	var err error
	inNS(t, ns, func() {
		d := net.Dialer{Timeout: 600 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		// The socket is created here, inside the namespace.
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
		defer cancel()
		conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort(dst, fmt.Sprint(port)))
	})
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// curlReach does the same with curl run by ip netns exec.
func curlReach(t testing.TB, ns, src, dst string, port int) bool {
	t.Helper()
	err := exec.Command("ip", "netns", "exec", ns, "curl", "-s", "-o", "/dev/null", "--max-time", "1", "--interface", src,
		"telnet://"+net.JoinHostPort(dst, fmt.Sprint(port))).Run()
	// curl exits 0 (or 52/56 once the server closes) when it connected;
	// 28 is a timeout.
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode() != 28 && ee.ExitCode() != 7
	}
	return err == nil
}

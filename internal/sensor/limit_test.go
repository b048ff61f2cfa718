package sensor

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func TestGatePerSourceAndTotal(t *testing.T) {
	g := NewGate(Limits{MaxConns: 3, MaxConnsPerSource: 2})
	a := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1}
	b := &net.TCPAddr{IP: net.ParseIP("192.0.2.2"), Port: 1}
	r1, err := g.Admit(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Admit(a); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Admit(a); !errors.Is(err, ErrLimit) {
		t.Fatalf("third from one source: %v, want ErrLimit", err)
	}
	if _, err := g.Admit(b); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Admit(&net.TCPAddr{IP: net.ParseIP("192.0.2.3")}); !errors.Is(err, ErrLimit) {
		t.Fatalf("fourth in all: %v, want ErrLimit", err)
	}
	r1()
	r1() // twice is harmless
	if g.Held() != 2 {
		t.Fatalf("held %d after one release, want 2", g.Held())
	}
	if _, err := g.Admit(a); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(100)
	if !b.Reserve(60) || b.Reserve(41) || !b.Reserve(40) {
		t.Fatal("budget of 100: 60 then 41 must fail, 40 must fit")
	}
	b.Release(100)
	if b.Used() != 0 {
		t.Fatalf("used %d", b.Used())
	}
}

// TestServeCutsSlowAndGreedyClients checks that a silent client is cut at
// the idle timeout, and a client sending too much at the byte cap.
func TestServeCutsSlowAndGreedyClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gate := NewGate(Limits{IdleTimeout: 200 * time.Millisecond, MaxSessionBytes: 1000})
	results := make(chan error, 2)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, gate, func(ctx context.Context, c *Conn) {
			_, err := io.Copy(io.Discard, c)
			results <- err
		})
	}()
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	var ne net.Error
	if err := <-results; !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("silent client: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("silent client cut after %v", d)
	}
	greedy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer greedy.Close()
	go greedy.Write(make([]byte, 5000))
	if err := <-results; !errors.Is(err, ErrSessionBytes) {
		t.Fatalf("greedy client: %v, want ErrSessionBytes", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if gate.Held() != 0 {
		t.Fatalf("%d connections still held after Serve returned", gate.Held())
	}
}

func TestEventCap(t *testing.T) {
	c := NewEventCap(3)
	allowed := 0
	for range 10 {
		if c.Allow() {
			allowed++
		}
	}
	if allowed != 3 || c.Suppressed() != 7 {
		t.Errorf("10 events under a cap of 3: %d allowed, %d suppressed; want 3, 7", allowed, c.Suppressed())
	}
	if got := NewEventCap(0).max; got != int64(DefaultLimits().MaxEvents) {
		t.Errorf("NewEventCap(0) caps at %d, want %d", got, DefaultLimits().MaxEvents)
	}
}

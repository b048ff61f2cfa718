package honeytoken

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/httppot"
	"github.com/vallum/vallum/internal/sensor/tcppot"
)

type collect struct {
	mu sync.Mutex
	ev []sensor.Event
}

func (c *collect) Emit(e sensor.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ev = append(c.ev, e)
}

func (c *collect) events() []sensor.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sensor.Event(nil), c.ev...)
}

// TestTokenUsedAgainstSensors plants nothing but uses a honey credential
// and a honey API key against the HTTP and FTP honeypots, as an intruder
// who found them would, and checks Match recognises each use in the
// events the honeypots emit, and nothing else.
func TestTokenUsedAgainstSensors(t *testing.T) {
	e := newTestEnv(t)
	r := e.registry(t)
	cred := create(t, r, Request{Type: TypeCredential, Planted: "fileserver:/srv/share/passwords.xlsx"})
	key := create(t, r, Request{Type: TypeAPIKey, Planted: "ci:/home/build/.aws/credentials"})
	user, pass := cred.Fields["username"], cred.Fields["password"]

	sink := &collect{}
	hp, err := httppot.New(httppot.Config{}, sensor.Env{Name: "edge", Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := tcppot.New(tcppot.Config{}, sensor.Env{Name: "edge", Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	fl, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); hp.ServeListeners(ctx, []net.Listener{hl}, nil) }()
	go func() { defer wg.Done(); tp.ServeListener(ctx, tcppot.FTP, fl) }()
	defer func() { cancel(); wg.Wait() }()

	// HTTP: the credential in the VPN login form, the key in a query.
	base := "http://" + hl.Addr().String()
	resp, err := http.PostForm(base+"/remote/logincheck", url.Values{"username": {user}, "credential": {pass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/api/v1/objects?AWSAccessKeyId=" + key.Fields["access_key_id"])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// An ordinary attempt that is no token.
	resp, _ = http.PostForm(base+"/wp-login.php", url.Values{"log": {"admin"}, "pwd": {"admin123"}})
	resp.Body.Close()

	// FTP: the credential at the login.
	c, err := net.Dial("tcp", fl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	br.ReadString('\n')
	fmt.Fprintf(c, "USER %s\r\nPASS %s\r\n", user, pass)
	br.ReadString('\n')
	if l, _ := br.ReadString('\n'); !strings.HasPrefix(l, "530") {
		t.Fatalf("ftp: %q", l)
	}

	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		got = got[:0]
		for _, ev := range sink.events() {
			if tok, ok := r.Match(ev); ok {
				got = append(got, ev.Protocol+"/"+ev.Kind+"→"+tok.ID)
			}
		}
		if len(got) >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := map[string]bool{
		"http/request→" + key.ID:  true, // the request line with the key
		"http/auth→" + cred.ID:    true, // the form post
		"ftp/command→" + cred.ID:  true, // USER <honey user>
		"ftp/auth→" + cred.ID:     true, // USER/PASS
		"http/request→" + cred.ID: false,
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
		if _, ok := want[g]; !ok {
			t.Errorf("unexpected match %s", g)
		}
	}
	for k, must := range want {
		if must && !seen[k] {
			t.Errorf("no match %s; got %v", k, got)
		}
	}
}

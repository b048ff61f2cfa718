package tcppot

import (
	"context"
	"encoding/xml"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/httppot"
)

// nmapRun is the part of nmap's XML output the test reads.
type nmapRun struct {
	Hosts []struct {
		Ports []struct {
			PortID  int `xml:"portid,attr"`
			Service struct {
				Name    string `xml:"name,attr"`
				Product string `xml:"product,attr"`
				Version string `xml:"version,attr"`
				Method  string `xml:"method,attr"`
				Extra   string `xml:"extrainfo,attr"`
			} `xml:"service"`
		} `xml:"ports>port"`
	} `xml:"host"`
}

// TestNmap runs `nmap -sV` against every service and the HTTP honeypot
// and checks what nmap identifies. The ports are not the services' usual
// ones, so nmap only knows them by their answers (method "probed").
func TestNmap(t *testing.T) {
	if _, err := exec.LookPath("nmap"); err != nil {
		t.Skipf("needs nmap (not installed): %v", err)
	}
	if testing.Short() {
		t.Skip("nmap -sV takes about 20s; skipped with -short")
	}
	p := startPots(t, Config{})
	hs, err := httppot.New(httppot.Config{}, sensor.Env{Sink: p.ev})
	if err != nil {
		t.Fatal(err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hs.ServeListeners(ctx, []net.Listener{hl}, nil) }()
	defer func() { cancel(); <-done }()

	addrs := map[string]string{"http": hl.Addr().String()}
	for k, v := range p.addr {
		addrs[k] = v
	}
	var ports []string
	byPort := map[string]string{}
	for proto, a := range addrs {
		_, port, _ := net.SplitHostPort(a)
		ports = append(ports, port)
		byPort[port] = proto
	}
	out, err := exec.Command("nmap", "-sV", "-Pn", "-n", "-T4", "-p", strings.Join(ports, ","), "-oX", "-", "127.0.0.1").Output()
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	var run nmapRun
	if err := xml.Unmarshal(out, &run); err != nil || len(run.Hosts) != 1 {
		t.Fatalf("nmap output: %v\n%s", err, out)
	}
	want := map[string]struct{ name, product, version string }{
		"http": {"http", "Apache httpd", "2.4.58"},
		FTP:    {"ftp", "vsftpd", "3.0.3"},
		Telnet: {"telnet", "Linux telnetd", ""},
		Redis:  {"redis", "Redis key-value store", ""},
		MySQL:  {"mysql", "MySQL", "8.0.36-0ubuntu0.22.04.1"},
		SMB:    {"microsoft-ds", "Microsoft Windows 7 - 10 microsoft-ds", ""},
		RDP:    {"ms-wbt-server", "Microsoft Terminal Services", ""},
	}
	seen := 0
	for _, port := range run.Hosts[0].Ports {
		proto := byPort[itoa(port.PortID)]
		w, ok := want[proto]
		if !ok {
			continue
		}
		seen++
		s := port.Service
		t.Logf("%s on %d: nmap says %q %q %q (%s) %q", proto, port.PortID, s.Name, s.Product, s.Version, s.Method, s.Extra)
		if s.Name != w.name || s.Product != w.product || (w.version != "" && s.Version != w.version) || s.Method != "probed" {
			t.Errorf("%s: nmap identified %q %q %q (%s), want %q %q %q (probed)", proto, s.Name, s.Product, s.Version, s.Method, w.name, w.product, w.version)
		}
	}
	if seen != len(want) {
		t.Errorf("nmap reported %d of the %d services:\n%s", seen, len(want), out)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

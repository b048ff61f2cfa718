package tcppot

import (
	"context"
	"encoding/xml"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/sensor"
	"github.com/vallum/vallum/internal/sensor/httppot"
	"github.com/vallum/vallum/internal/sensor/sensortest"
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

const nmapScriptsChildEnv = "VALLUM_NMAP_SCRIPTS_CHILD"

// TestNmapScripts puts the services on their usual ports, in a fresh
// network namespace (so nothing else on the machine is in the way), and
// runs nmap's scripts for them: each must read our answers as the real
// service's.
func TestNmapScripts(t *testing.T) {
	if os.Getenv(nmapScriptsChildEnv) != "1" {
		if os.Geteuid() != 0 {
			t.Skip("needs root: binds the services' usual ports in a network namespace (unshare -n)")
		}
		for _, prog := range []string{"unshare", "ip", "nmap"} {
			if _, err := exec.LookPath(prog); err != nil {
				t.Skipf("needs %s (not installed): %v", prog, err)
			}
		}
		if testing.Short() {
			t.Skip("nmap with scripts takes about 10s; skipped with -short")
		}
		cmd := exec.Command("unshare", "-n", os.Args[0], "-test.run", "^TestNmapScripts$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), nmapScriptsChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestNmapScripts") {
			t.Fatalf("in the namespace: %v\n%s", err, out)
		}
		return
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}
	cfg := Config{}
	cfg.FTP.Anonymous = true
	for p, port := range map[string]string{FTP: "21", Telnet: "23", Redis: "6379", MySQL: "3306", SMB: "445", RDP: "3389"} {
		s := cfg.service(p)
		s.Enabled, s.Listen = true, []string{"127.0.0.1:" + port}
	}
	s, err := New(cfg, sensor.Env{Sink: &sensortest.Events{}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	for _, port := range []string{"21", "23", "445", "3306", "3389", "6379"} {
		for i := 0; ; i++ {
			c, err := net.Dial("tcp", "127.0.0.1:"+port)
			if err == nil {
				c.Close()
				break
			}
			if i == 100 {
				t.Fatalf("port %s never opened: %v", port, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	out, err := exec.Command("nmap", "-Pn", "-n", "-sV", "-p", "21,23,445,3306,3389,6379",
		"--script", "ftp-anon,redis-info,mysql-info,smb-protocols,smb2-security-mode,smb2-time,rdp-enum-encryption", "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	for _, want := range []string{
		"21/tcp   open  ftp           vsftpd 3.0.3",
		"ftp-anon: Anonymous FTP login allowed (FTP code 230)",
		"23/tcp   open  telnet        Linux telnetd",
		"445/tcp  open  microsoft-ds  Microsoft Windows 7 - 10 microsoft-ds (workgroup: WORKGROUP)",
		"3306/tcp open  mysql         MySQL 8.0.36-0ubuntu0.22.04.1",
		"Auth Plugin Name: caching_sha2_password",
		"3389/tcp open  ms-wbt-server Microsoft Terminal Services",
		"CredSSP (NLA): SUCCESS",
		"6379/tcp open  redis         Redis key-value store 7.0.15",
		"Operating System: Linux 5.15.0-91-generic x86_64",
		"NT LM 0.12 (SMBv1)",
		"302",
		"Message signing enabled but not required",
		"start_date:",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nmap's output lacks %q", want)
		}
	}
}

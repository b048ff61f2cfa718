package config

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		err        string // substring of the error; empty for success
		check      func(Config) string
	}{
		{name: "empty file gives the defaults", yaml: "", check: func(c Config) string {
			if c.Data != "./vallum-data" || c.Listen != "127.0.0.1:8080" || c.Log.MaxPayload != 1<<20 || c.API.MaxBody != 1<<20 {
				return "defaults not applied"
			}
			return ""
		}},
		{name: "fields", yaml: "data: /var/lib/vallum\nlisten: 127.0.0.1:9000\nlog: {origin: ev.acme.example/vallum, max_payload: 4096}\nguard: {perimeter: /etc/p.yaml}\n", check: func(c Config) string {
			if c.Data != "/var/lib/vallum" || c.Log.Origin != "ev.acme.example/vallum" || c.API.MaxBody != 4096 || c.Guard.Perimeter != "/etc/p.yaml" {
				return "fields not decoded"
			}
			return ""
		}},
		{name: "unknown key", yaml: "lsiten: 1.2.3.4:80\n", err: "field lsiten not found"},
		{name: "unknown nested key", yaml: "log: {max_paylod: 10}\n", err: "max_paylod"},
		{name: "bad listen", yaml: "listen: localhost\n", err: "not host:port"},
		{name: "payload too large", yaml: "log: {max_payload: 999999999}\n", err: "log.max_payload"},
		{name: "body smaller than payload", yaml: "log: {max_payload: 4096}\napi: {max_body: 100}\n", err: "api.max_body"},
		{name: "wrong type", yaml: "log: {max_batch: many}\n", err: "cannot unmarshal !!str `many` into int"},
		// Honeypot sections are checked when the file loads.
		{name: "bad ssh honeypot", yaml: "sensors: {ssh: {enabled: true, listen: nowhere}}\n", err: "sensors.ssh.listen"},
		{name: "bad http honeypot", yaml: "sensors: {http: {enabled: true, bait: {\"no-slash\": x}}}\n", err: "must start with /"},
		{name: "bad tcp honeypots", yaml: "sensors: {tcp: {hostname: a-name-far-too-long-for-netbios}}\n", err: "at most 15 printable"},
		{name: "honeytoken domain", yaml: "sensors: {honeytoken_domain: mail.acme.example}\n", check: func(c Config) string {
			if c.Sensors.HoneytokenDomain != "mail.acme.example" {
				return "honeytoken_domain not decoded"
			}
			return ""
		}},
		{name: "syslog defaults", yaml: "intake: {syslog: {udp: \"0.0.0.0:514\"}}\n", check: func(c Config) string {
			s := c.Intake.Syslog
			if len(s.Allow) != 2 || s.Allow[0] != "127.0.0.0/8" || s.Allow[1] != "::1/128" || s.MaxSeverity != "medium" || s.MaxConnsPerSource != 8 || s.SessionTimeout.String() != "1h0m0s" {
				return "syslog defaults: want loopback only, max_severity medium, 8 per source, 1h sessions"
			}
			return ""
		}},
		{name: "syslog max severity below open", yaml: "intake: {correlation: {open_severity: medium, link_severity: low}}\n", check: func(c Config) string {
			if c.Intake.Syslog.MaxSeverity != "low" {
				return "max_severity not below open_severity"
			}
			return ""
		}},
		{name: "bad syslog allow", yaml: "intake: {syslog: {allow: [10.0.0.0/33]}}\n", err: "intake.syslog.allow"},
		{name: "bad syslog max severity", yaml: "intake: {syslog: {max_severity: dire}}\n", err: "intake.syslog.max_severity"},
		{name: "per source rate defaults", yaml: "intake: {}\n", check: func(c Config) string {
			r := c.Intake.PerSourceRate
			if r.Rate != 200 || r.Burst != 1000 || r.Sources != 65536 || r.Summary.String() != "10s" {
				return "per_source_rate defaults: want 200/s, burst 1000, 65536 sources, summary 10s"
			}
			return ""
		}},
		{name: "bad per source rate", yaml: "intake: {per_source_rate: {rate: -1}}\n", err: "intake.per_source_rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(c); msg != "" {
				t.Errorf("%s: got %+v", msg, c)
			}
		})
	}
}

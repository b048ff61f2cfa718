package sshpot

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestConfigYAML(t *testing.T) {
	const doc = `
enabled: true
listen: 0.0.0.0:22
persona: debian-12
hostname: db02
host_keys: [ed25519, ecdsa, rsa]
accept: {policy: list, credentials: ["root:123456"], public_keys: false}
users: [deploy]
files: {/root/.aws/credentials: "[default]\n"}
max_auth_tries: 3
handshake_timeout: 20s
max_channels: 2
quarantine: {max_file: 1048576, max_total: 104857600}
disable_transcripts: false
max_transcript: 65536
limits: {max_conns: 500, max_conns_per_source: 8, idle_timeout: 1m}
`
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.HandshakeTimeout != 20*time.Second || c.Limits.IdleTimeout != time.Minute || c.Quarantine.MaxFile != 1<<20 || c.Files["/root/.aws/credentials"] != "[default]\n" {
		t.Errorf("decoded %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"defaults", Config{}, ""},
		{"persona", Config{Persona: "windows"}, "persona"},
		{"version", Config{ServerVersion: "OpenSSH"}, "server_version"},
		{"version control", Config{ServerVersion: "SSH-2.0-x\r\nSSH-2.0-y"}, "server_version"},
		{"host key", Config{HostKeys: []string{"dsa"}}, "host_keys"},
		{"policy", Config{Accept: Accept{Policy: "sometimes"}}, "policy"},
		{"probability", Config{Accept: Accept{Policy: PolicyRandom, Probability: 2}}, "probability"},
		{"pair", Config{Accept: Accept{Credentials: []string{"rootonly"}}}, "credentials"},
		{"user", Config{Users: []string{"bad user"}}, "users"},
		{"file", Config{Files: map[string]string{"etc/x": ""}}, "files"},
		{"limits", Config{MaxChannels: -1}, "max_channels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// Package tcppot holds the TCP service honeypots: FTP, Telnet, Redis, the
// MySQL handshake, the first packets of SMB and of RDP. Each speaks far
// enough that scanners identify the service and clients send their
// credentials, records what arrives as events, and then refuses. Every
// parser is bounded; nothing received is ever executed; no code here
// opens an outbound connection (FTP's active mode and Redis's REPLICAOF
// are answered, never followed).
package tcppot

import (
	"fmt"

	"github.com/vallum/vallum/internal/sensor"
)

// Protocol names, as in Event.Protocol.
const (
	FTP    = "ftp"
	Telnet = "telnet"
	Redis  = "redis"
	MySQL  = "mysql"
	SMB    = "smb"
	RDP    = "rdp"
)

// Protocols lists the services in the order they are configured.
var Protocols = []string{FTP, Telnet, Redis, MySQL, SMB, RDP}

// Config configures the TCP service honeypots (docs/honeypots.md). Zero
// fields take the defaults listed on each.
type Config struct {
	// FTP is a vsftpd look-alike (default 127.0.0.1:2121).
	FTP FTPConfig `yaml:"ftp"`
	// Telnet is a Linux telnetd look-alike (default 127.0.0.1:2323).
	Telnet Service `yaml:"telnet"`
	// Redis is an unauthenticated Redis 7 look-alike (default
	// 127.0.0.1:16379).
	Redis Service `yaml:"redis"`
	// MySQL is a MySQL 8 server's handshake (default 127.0.0.1:13306).
	MySQL Service `yaml:"mysql"`
	// SMB answers SMB1 and SMB2 NEGOTIATE like Windows (default
	// 127.0.0.1:10445).
	SMB Service `yaml:"smb"`
	// RDP answers the X.224 connection request like Windows (default
	// 127.0.0.1:13389).
	RDP Service `yaml:"rdp"`
	// Hostname is the host name the services show (telnet prompt, SMB
	// server name; default "srv01").
	Hostname string `yaml:"hostname"`
	// Workgroup is the SMB domain shown (default "WORKGROUP").
	Workgroup string `yaml:"workgroup"`
	// Limits bound connections for all the services together.
	Limits sensor.Limits `yaml:"limits"`
	// Quarantine bounds the files captured by FTP STOR, kept under the
	// honeypot's directory.
	Quarantine sensor.QuarantineLimits `yaml:"quarantine"`
}

// Service is one service's switch and addresses.
type Service struct {
	// Enabled turns the service on.
	Enabled bool `yaml:"enabled"`
	// Listen are the addresses (default: one loopback high port).
	Listen []string `yaml:"listen"`
	// Version is the server version shown (FTP banner version, Redis
	// redis_version, MySQL server version); a believable default.
	Version string `yaml:"version"`
}

// FTPConfig is the FTP service.
type FTPConfig struct {
	Service `yaml:",inline"`
	// Anonymous lets "anonymous" and "ftp" log in (any password) to an
	// empty, writable directory whose uploads go to the quarantine; every
	// other login fails.
	Anonymous bool `yaml:"anonymous"`
}

// Defaults.
var (
	defaultListen = map[string]string{
		FTP: "127.0.0.1:2121", Telnet: "127.0.0.1:2323", Redis: "127.0.0.1:16379",
		MySQL: "127.0.0.1:13306", SMB: "127.0.0.1:10445", RDP: "127.0.0.1:13389",
	}
	defaultVersion = map[string]string{FTP: "3.0.3", Redis: "7.0.15", MySQL: "8.0.36-0ubuntu0.22.04.1"}
)

const (
	DefaultHostname  = "srv01"
	DefaultWorkgroup = "WORKGROUP"
)

// service returns the service config of proto.
func (c *Config) service(proto string) *Service {
	switch proto {
	case FTP:
		return &c.FTP.Service
	case Telnet:
		return &c.Telnet
	case Redis:
		return &c.Redis
	case MySQL:
		return &c.MySQL
	case SMB:
		return &c.SMB
	case RDP:
		return &c.RDP
	}
	return nil
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	for _, p := range Protocols {
		s := c.service(p)
		if s.Listen == nil {
			s.Listen = []string{defaultListen[p]}
		}
		if s.Version == "" {
			s.Version = defaultVersion[p]
		}
	}
	if c.Hostname == "" {
		c.Hostname = DefaultHostname
	}
	if c.Workgroup == "" {
		c.Workgroup = DefaultWorkgroup
	}
	c.Limits = c.Limits.WithDefaults()
	return c
}

// Validate reports a configuration that cannot be served.
func (c Config) Validate() error {
	for _, name := range []string{c.Hostname, c.Workgroup} {
		if len(name) > 15 || !printable(name) {
			return fmt.Errorf("tcp honeypots: host name and workgroup need at most 15 printable ASCII characters, got %q", name)
		}
	}
	for _, p := range Protocols {
		if v := c.service(p).Version; len(v) > 64 || !printable(v) || containsAny(v, "\r\n ") && p != FTP {
			return fmt.Errorf("tcp honeypots: %s version %q: want up to 64 printable characters", p, v)
		}
	}
	return c.Limits.Validate()
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}

// Package config is Vallum's configuration: one documented struct, decoded
// strictly from YAML (unknown keys are errors), validated at start, with
// defaults that make `vallum serve` useful with no file at all.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of a Vallum server.
type Config struct {
	// Data is the data directory: the evidence log, its key, the SQLite
	// database and the admin token live there. Default "./vallum-data".
	Data string `yaml:"data"`
	// Listen is the address of the HTTP API and the read-only log
	// endpoints. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// Log configures the evidence log.
	Log Log `yaml:"log"`
	// API configures the HTTP API.
	API API `yaml:"api"`
	// Guard configures the legal guardrail.
	Guard Guard `yaml:"guard"`
	// Sensors configures the honeypots (sensors.go).
	Sensors Sensors `yaml:"sensors"`
	// Intake configures event intake: Suricata, syslog, webhooks (intake.go).
	Intake Intake `yaml:"intake"`
	// Contain configures the containment connectors (contain.go).
	Contain Contain `yaml:"contain"`
	// Anchor configures RFC 3161 time-stamping (anchor.go).
	Anchor Anchor `yaml:"anchor"`
	// Web configures the web console (web.go).
	Web Web `yaml:"web"`
}

// Guard configures the legal guardrail.
type Guard struct {
	// Perimeter is the perimeter file (docs/guardrail.md) that declares
	// what is ours. Without one nothing is ours, so every action with an
	// effect on a target is denied.
	Perimeter string `yaml:"perimeter"`
	// Policy is a rule pack directory; default: the Italian pack built
	// into the binary (policies/).
	Policy string `yaml:"policy"`
}

// Log configures the evidence log.
type Log struct {
	// Origin is the checkpoint origin line, which names this log uniquely
	// (for example "evidence.acme.example/vallum"). It is fixed when the log
	// key is generated on first start; by default a random name
	// "vallum.local/<hex>" is made then. A configured origin must match the
	// one the existing log was created with.
	Origin string `yaml:"origin"`
	// MaxPayload is the largest payload accepted, in bytes. Default 1 MiB.
	MaxPayload int `yaml:"max_payload"`
	// MaxBatch bounds the entries committed with one fdatasync and one
	// checkpoint. Default 4096.
	MaxBatch int `yaml:"max_batch"`
}

// API configures the HTTP API.
type API struct {
	// MaxBody is the largest request body accepted, in bytes; it must be
	// at least Log.MaxPayload. Default: Log.MaxPayload.
	MaxBody int64 `yaml:"max_body"`
}

// Default returns the configuration used when no file is given.
func Default() Config {
	return Config{
		Data:   "./vallum-data",
		Listen: "127.0.0.1:8080",
		Log:    Log{MaxPayload: 1 << 20, MaxBatch: 4096},
	}
}

// Load reads a YAML file over the defaults and validates the result.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("couldn't read config: %w", err)
	}
	return Parse(b)
}

// Parse decodes YAML over the defaults, strictly, and validates it.
func Parse(b []byte) (Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("couldn't parse config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks the configuration and fills derived defaults.
func (c *Config) Validate() error {
	if c.Data == "" {
		return errors.New("config: data must name a directory")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("config: listen %q is not host:port: %v", c.Listen, err)
	}
	if c.Log.MaxPayload <= 0 || c.Log.MaxPayload > 64<<20 {
		return fmt.Errorf("config: log.max_payload %d must be between 1 and %d", c.Log.MaxPayload, 64<<20)
	}
	if c.Log.MaxBatch <= 0 || c.Log.MaxBatch > 65536 {
		return fmt.Errorf("config: log.max_batch %d must be between 1 and 65536", c.Log.MaxBatch)
	}
	if c.API.MaxBody == 0 {
		c.API.MaxBody = int64(c.Log.MaxPayload)
	}
	if c.API.MaxBody < int64(c.Log.MaxPayload) {
		return fmt.Errorf("config: api.max_body %d is smaller than log.max_payload %d", c.API.MaxBody, c.Log.MaxPayload)
	}
	for _, validate := range []func() error{c.Sensors.validate, c.Intake.validate, c.Contain.validate, c.Anchor.validate, c.Web.validate} {
		if err := validate(); err != nil {
			return err
		}
	}
	return nil
}

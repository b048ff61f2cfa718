package config

import (
	"fmt"
	"regexp"

	"github.com/vallum/vallum/internal/sensor/httppot"
	"github.com/vallum/vallum/internal/sensor/sshpot"
	"github.com/vallum/vallum/internal/sensor/tcppot"
)

// Sensors configures the honeypots (docs/sensors.md). Each protocol
// package owns its section's type; `vallum serve` and `vallum sensor`
// read the same section.
type Sensors struct {
	// Name is this sensor's name, the prefix of every event's sensor field
	// ("edge-1" gives "edge-1/ssh"). Default "local" for `vallum serve`;
	// `vallum sensor` uses the host name when it is empty.
	Name string `yaml:"name"`
	// MemoryBudget is the process-wide budget in bytes for what the
	// honeypots capture (transcripts, bodies, uploads): a capture that
	// cannot reserve is truncated rather than growing the heap.
	// Default 256 MiB.
	MemoryBudget int64 `yaml:"memory_budget"`
	// Spool bounds the disk spool of `vallum sensor` (events waiting for
	// the server).
	Spool Spool          `yaml:"spool"`
	SSH   sshpot.Config  `yaml:"ssh"`
	HTTP  httppot.Config `yaml:"http"`
	TCP   tcppot.Config  `yaml:"tcp"`
	// HoneytokenDomain is the default e-mail domain of e-mail and
	// customer-row honeytokens: one whose mail we receive and read, so a
	// use shows up on our systems (docs/honeypots.md). Without it each
	// such token needs a domain in its request.
	HoneytokenDomain string `yaml:"honeytoken_domain"`
}

// Spool bounds a disk spool of events.
type Spool struct {
	// MaxBytes is the most the spool holds on disk. When it is full new
	// events are dropped, counted and reported (docs/sensors.md).
	// Default 1 GiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// SegmentBytes is the size at which a spool file is closed and a new
	// one begun; a segment is deleted once every event in it is
	// acknowledged. Default 4 MiB.
	SegmentBytes int64 `yaml:"segment_bytes"`
}

var sensorName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidSensorName reports whether name can name a sensor.
func ValidSensorName(name string) error {
	if !sensorName.MatchString(name) {
		return fmt.Errorf("sensor name %q must be 1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

func (s *Sensors) validate() error {
	if s.Name == "" {
		s.Name = "local"
	}
	if err := ValidSensorName(s.Name); err != nil {
		return fmt.Errorf("config: sensors.name: %w", err)
	}
	if s.MemoryBudget == 0 {
		s.MemoryBudget = 256 << 20
	}
	if s.MemoryBudget < 1<<20 {
		return fmt.Errorf("config: sensors.memory_budget %d must be at least 1 MiB", s.MemoryBudget)
	}
	// A bad honeypot section is refused when the configuration loads, not
	// when the honeypot starts.
	if s.SSH.Enabled {
		if err := s.SSH.Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	if s.HTTP.Enabled {
		if err := s.HTTP.WithDefaults().Validate(); err != nil {
			return fmt.Errorf("config: sensors.http: %w", err)
		}
	}
	if err := s.TCP.WithDefaults().Validate(); err != nil {
		return fmt.Errorf("config: sensors.tcp: %w", err)
	}
	return s.Spool.validate("sensors.spool")
}

func (s *Spool) validate(key string) error {
	if s.MaxBytes == 0 {
		s.MaxBytes = 1 << 30
	}
	if s.SegmentBytes == 0 {
		s.SegmentBytes = 4 << 20
	}
	if s.SegmentBytes < 4<<10 || s.MaxBytes < s.SegmentBytes {
		return fmt.Errorf("config: %s: segment_bytes %d must be at least 4096 and at most max_bytes %d", key, s.SegmentBytes, s.MaxBytes)
	}
	return nil
}

package config

import (
	"github.com/vallum/vallum/internal/sensor/httppot"
	"github.com/vallum/vallum/internal/sensor/sshpot"
	"github.com/vallum/vallum/internal/sensor/tcppot"
)

// Sensors configures the honeypots. Each protocol package owns its
// section's type.
type Sensors struct {
	SSH  sshpot.Config  `yaml:"ssh"`
	HTTP httppot.Config `yaml:"http"`
	TCP  tcppot.Config  `yaml:"tcp"`
}

func (s *Sensors) validate() error { return nil }

package config

// Intake configures intake (docs/configuration.md).
type Intake struct{}

func (x *Intake) validate() error { return nil }

package config

// Anchor configures anchor (docs/configuration.md).
type Anchor struct{}

func (x *Anchor) validate() error { return nil }

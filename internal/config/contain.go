package config

// Contain configures contain (docs/configuration.md).
type Contain struct{}

func (x *Contain) validate() error { return nil }

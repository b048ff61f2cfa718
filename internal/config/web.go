package config

// Web configures web (docs/configuration.md).
type Web struct{}

func (x *Web) validate() error { return nil }

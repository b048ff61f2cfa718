// Package httppot is the HTTP(S) honeypot.
package httppot

// Config configures the HTTP honeypot (docs/sensors.md).
type Config struct{}

// Package tcppot holds the TCP service honeypots.
package tcppot

// Config configures the TCP service honeypots (docs/sensors.md).
type Config struct{}

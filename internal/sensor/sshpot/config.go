// Package sshpot is the SSH honeypot.
package sshpot

// Config configures the SSH honeypot (docs/sensors.md).
type Config struct{}

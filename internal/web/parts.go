package web

import (
	"context"
		"time"

	)

// The sensor part is provided by the sensor subsystem (issue 6);
// containment is in containment.go and the court bundles and anchors in
// bundles.go, which use the API server's services directly. Each is an interface
// here, at its consumer; cmd/vallum adapts the subsystem's own API to it
// when that subsystem is in the build. A nil part shows "not available in
// this build" in its place.

// Sensors is what the Sensors page shows of the honeypots (issue 6).
// Every method must be safe for concurrent use and return quickly.
type Sensors interface {
	// Honeypots lists the honeypots this server runs and their state.
	Honeypots(ctx context.Context) ([]Honeypot, error)
	// Sessions lists the most recent attacker sessions, newest first.
	Sessions(ctx context.Context, limit int) ([]SensorSession, error)
	// Transcript returns one session's transcript in order; an error
	// wrapping incident.ErrNotFound when there is none.
	Transcript(ctx context.Context, session string) ([]TranscriptLine, error)
	// Honeytokens lists the honeytokens and where each was planted.
	Honeytokens(ctx context.Context) ([]Honeytoken, error)
}

// Honeypot is one decoy and its state.
type Honeypot struct {
	Name     string
	Protocol string
	Listen   string
	// State is "listening", "stopped", "failed", … in the sensor's words.
	State  string
	Detail string
}

// SensorSession is one attacker session on a decoy.
type SensorSession struct {
	ID       string
	Sensor   string
	Protocol string
	Source   string
	Start    time.Time
	End      time.Time
	Events   int
}

// TranscriptLine is one step of a session: what the client sent
// (Direction "in") or what the decoy answered ("out").
type TranscriptLine struct {
	At        time.Time
	Direction string
	Text      string
}

// Honeytoken is a planted decoy credential or record.
type Honeytoken struct {
	ID        string
	Kind      string
	PlantedAt string // where it was planted, in the planter's words
	Created   time.Time
	LastSeen  time.Time
	Hits      int
}


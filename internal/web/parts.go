package web

import (
	"context"
	"io"
	"time"

	"github.com/vallum/vallum/internal/api"
	)

// The parts below are provided by other subsystems (sensors, court
// bundles, time-stamp anchors; containment is in containment.go). Each is an interface
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

// Exporter writes an incident's court bundle (issue 8).
type Exporter interface {
	// Export writes the bundle of incident as a .tar.gz to w on behalf of
	// p and returns its file name.
	Export(ctx context.Context, p api.Principal, incident string, w io.Writer) (name string, err error)
}

// exportRoles may export a court bundle: case work, counsel, the DPO and
// the auditor (who verifies the record).
var exportRoles = []string{api.RoleAnalyst, api.RoleIncidentCommander, api.RoleLegalCounsel, api.RoleDPO, api.RoleAuditor}

// Anchors reports RFC 3161 time-stamp anchors of checkpoints (issue 8).
type Anchors interface {
	// Latest returns the latest anchor; ok false when none was made yet.
	Latest(ctx context.Context) (a Anchor, ok bool, err error)
}

// Anchor is an RFC 3161 time stamp of a checkpoint.
type Anchor struct {
	TreeSize  int64
	Time      time.Time
	Authority string
}

package tsa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/evidence"
)

// AnchorKind is the kind of the evidence entry that logs an anchor.
const AnchorKind = "anchor"

// AnchorActor is the actor of anchor entries.
const AnchorActor = "vallum/anchor"

// AnchorPayload is the payload of an "anchor" entry.
type AnchorPayload struct {
	TreeSize         int64  `json:"tree_size"`
	CheckpointSHA256 string `json:"checkpoint_sha256"`
	Root             string `json:"root"`
	Authority        string `json:"authority"`
	URL              string `json:"url"`
	GenTime          string `json:"gen_time"`
	Serial           string `json:"serial"`
	Hash             string `json:"hash"`
	TokenSHA256      string `json:"token_sha256"`
	Reason           string `json:"reason"`
}

// DefaultMilestones are the entry kinds that trigger an anchor at once: an
// action's effect or its end, a notification sent, a report to an
// authority, an erasure, and a change of an incident's status.
var DefaultMilestones = []string{
	"action.executed", "action.failed", "action.reverted", "action.expired",
	"clock.submitted", "ransom.authority_report", "erasure", "incident.updated",
}

// Anchorer time-stamps the log's latest signed checkpoint with every
// authority: every Interval when the log changed since the last anchor,
// at milestone entries, and when asked (Anchor). Run owns the scheduling
// state; Anchor may be called from any goroutine (anchoring is serialised
// by mu).
type Anchorer struct {
	Log         *evidence.Log
	Store       *Store
	Authorities []*Authority
	// Interval between scheduled anchors (0: none).
	Interval time.Duration
	// Milestones are the entry kinds that trigger an anchor of their
	// incident (DefaultMilestones if nil; empty to disable).
	Milestones []string
	Logger     *slog.Logger

	mu sync.Mutex
	// stamped is the log size right after the last anchor entry, when that
	// entry was the last one: the log has not changed since.
	stamped int64
}

// ErrNoAuthority means every authority failed.
var ErrNoAuthority = errors.New("no time-stamping authority answered with a valid token")

// Anchor time-stamps the latest checkpoint now with every authority,
// stores each token and logs it as an "anchor" entry (of incident, if not
// empty). It fails only if no authority gave a valid token.
// This is the hook for incident milestones: call it with the incident's ID
// and what happened.
func (a *Anchorer) Anchor(ctx context.Context, incident, reason string) ([]Anchor, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.anchorLocked(ctx, incident, reason)
}

func (a *Anchorer) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.Default()
	}
	return a.Logger
}

func (a *Anchorer) anchorLocked(ctx context.Context, incident, reason string) ([]Anchor, error) {
	cp, size := a.Log.Latest()
	if size == 0 {
		return nil, errors.New("the log is empty: nothing to anchor")
	}
	c, err := evidence.OpenCheckpoint(cp, a.Log.Origin(), a.Log.Verifier())
	if err != nil {
		return nil, fmt.Errorf("latest checkpoint: %w", err)
	}
	var out []Anchor
	var errs []error
	for _, auth := range a.Authorities {
		tok, err := auth.Stamp(ctx, cp)
		if err != nil {
			a.logger().Warn("time-stamping failed", "authority", auth.Name, "tree_size", size, "err", err)
			errs = append(errs, err)
			continue
		}
		an := Anchor{
			TreeSize: size, Checkpoint: cp, CheckpointSHA256: SHA256Hex(cp),
			Authority: auth.Name, URL: redact(auth.URL), Time: tok.Time.UTC(),
			Serial: tok.Serial.Text(16), Hash: HashName(tok.Hash), Token: tok.Response,
			TokenSHA256: SHA256Hex(tok.Response), RootsPEM: auth.RootsPEM, Incident: incident, Reason: reason, LogIndex: -1,
		}
		if an.ID, err = a.Store.Add(ctx, an); err != nil {
			errs = append(errs, err)
			continue
		}
		p, _ := json.Marshal(AnchorPayload{
			TreeSize: size, CheckpointSHA256: an.CheckpointSHA256, Root: c.Hash.String(), Authority: an.Authority,
			URL: an.URL, GenTime: an.Time.Format(time.RFC3339Nano), Serial: an.Serial, Hash: an.Hash,
			TokenSHA256: an.TokenSHA256, Reason: reason,
		})
		rc, err := a.Log.Append(ctx, evidence.Record{Kind: AnchorKind, Actor: AnchorActor, Incident: incident, Payload: p})
		if err != nil {
			errs = append(errs, fmt.Errorf("couldn't log anchor: %w", err))
			continue
		}
		an.LogIndex = rc.Index
		if err := a.Store.SetLogIndex(ctx, an.ID, rc.Index); err != nil {
			errs = append(errs, err)
		}
		a.stamped = rc.Index + 1
		a.logger().Info("anchored checkpoint", "authority", auth.Name, "tree_size", size, "gen_time", an.Time, "log_index", rc.Index, "reason", reason)
		out = append(out, an)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrNoAuthority, errors.Join(errs...))
	}
	return out, nil
}

// redact drops what may hold credentials from a URL: the user-info, the
// query string (an API key or token is often passed there) and the
// fragment.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// Run anchors every Interval when the log changed, and at milestone
// entries, until ctx ends. Failures are logged and retried at the next
// tick; they never stop the server.
func (a *Anchorer) Run(ctx context.Context) error {
	milestones := a.Milestones
	if milestones == nil {
		milestones = DefaultMilestones
	}
	var tick <-chan time.Time
	if a.Interval > 0 {
		t := time.NewTicker(a.Interval)
		defer t.Stop()
		tick = t.C
	}
	scanned := a.Log.Size()
	for {
		changed := a.Log.Changed()
		if n := a.Log.Size(); n > scanned && len(milestones) > 0 {
			incs := a.milestonesIn(scanned, n, milestones)
			scanned = n
			for _, m := range incs {
				if _, err := a.Anchor(ctx, m.incident, m.reason); err != nil && ctx.Err() == nil {
					a.logger().Warn("milestone anchor failed", "incident", m.incident, "err", err)
				}
			}
			continue
		}
		scanned = a.Log.Size()
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick:
			a.mu.Lock()
			if size := a.Log.Size(); size > 0 && size != a.stamped {
				if _, err := a.anchorLocked(ctx, "", "schedule"); err != nil && ctx.Err() == nil {
					a.logger().Warn("scheduled anchor failed", "err", err)
				}
			}
			a.mu.Unlock()
		}
	}
}

type milestone struct{ incident, reason string }

// milestonesIn returns one milestone per incident among entries [from, to).
func (a *Anchorer) milestonesIn(from, to int64, kinds []string) []milestone {
	var out []milestone
	seen := map[string]bool{}
	for i := from; i < to; i++ {
		e, err := a.Log.Entry(i)
		if err != nil {
			continue
		}
		h, err := evidence.DecodeHeader(e.Header)
		if err != nil || h.Incident == "" || seen[h.Incident] || !slices.Contains(kinds, h.Kind) {
			continue
		}
		if h.Kind == "incident.updated" && !hasStatus(e.Payload) {
			continue
		}
		seen[h.Incident] = true
		out = append(out, milestone{h.Incident, fmt.Sprintf("milestone: %s at entry %d", h.Kind, i)})
	}
	return out
}

func hasStatus(payload []byte) bool {
	var p struct {
		Status *string `json:"status"`
	}
	return json.Unmarshal(payload, &p) == nil && p.Status != nil
}

package incident

import (
	"context"
	"fmt"
	"slices"
)

// AcquireEvidence records the acquisition of an item of evidence (its
// first custody step, by the actor) and returns it. IDs are "EVD-" and 10
// random base32 characters.
func (d *Desk) AcquireEvidence(ctx context.Context, actor Actor, incident string, in EvidenceInput) (EvidenceItem, error) {
	h, err := checkSHA256("sha256", in.SHA256)
	if err != nil {
		return EvidenceItem{}, err
	}
	in.SHA256 = h
	if in.Size < 0 {
		return EvidenceItem{}, invalidf("size must not be negative")
	}
	for _, f := range []struct{ name, v string }{{"media_type", in.MediaType}, {"source", in.Source}, {"tool", in.Tool}, {"method", in.Method}} {
		if err := checkText(f.name, f.v, 1, maxShort); err != nil {
			return EvidenceItem{}, err
		}
	}
	if err := d.lock(ctx, actor); err != nil {
		return EvidenceItem{}, err
	}
	defer d.unlock()
	if !d.exists(ctx, `SELECT 1 FROM inc_incidents WHERE id = ?`, incident) {
		return EvidenceItem{}, fmt.Errorf("incident %s: %w", incident, ErrNotFound)
	}
	id := d.newEvidenceID(ctx)
	if _, err := d.write(ctx, actor, KindAcquired, incident, acquiredPayload{Evidence: id, EvidenceInput: in}); err != nil {
		return EvidenceItem{}, err
	}
	return d.GetEvidence(ctx, id)
}

func (d *Desk) newEvidenceID(ctx context.Context) string {
	id := newID("EVD")
	for d.exists(ctx, `SELECT 1 FROM inc_evidence WHERE id = ?`, id) {
		id = newID("EVD")
	}
	return id
}

// AddCustody records a custody step of an item (see Custody for the
// fields each step needs). A hash_verified or transferred step must carry
// the re-verified SHA-256 and it must equal the item's (else an error
// wrapping ErrHashMismatch, and nothing is logged). A copied step creates
// a new item, the copy, whose parent is this one; its ID is in the
// returned step's Detail.Copy. Nothing follows destroyed.
func (d *Desk) AddCustody(ctx context.Context, actor Actor, evidenceID string, c Custody) (CustodyStep, error) {
	c.Copy = ""
	if err := checkCustody(&c); err != nil {
		return CustodyStep{}, err
	}
	if err := d.lock(ctx, actor); err != nil {
		return CustodyStep{}, err
	}
	defer d.unlock()
	item, err := d.GetEvidence(ctx, evidenceID)
	if err != nil {
		return CustodyStep{}, err
	}
	if item.Destroyed {
		return CustodyStep{}, invalidf("evidence %s was destroyed: no custody step can follow", evidenceID)
	}
	if (c.Step == StepHashVerified || c.Step == StepTransferred) && c.SHA256 != item.SHA256 {
		return CustodyStep{}, fmt.Errorf("evidence %s: re-verified sha256 %s is not the acquired %s: %w", evidenceID, c.SHA256, item.SHA256, ErrHashMismatch)
	}
	if c.Step == StepCopied {
		c.Copy = d.newEvidenceID(ctx)
	}
	rcpt, err := d.write(ctx, actor, KindCustody, item.Incident, custodyPayload{Evidence: evidenceID, Custody: c})
	if err != nil {
		return CustodyStep{}, err
	}
	return CustodyStep{Index: rcpt.Index, Step: c.Step, Actor: actor.Name, At: parseTime(rcpt.Time), Detail: c}, nil
}

// checkCustody validates a step's fields and normalises its hash.
func checkCustody(c *Custody) error {
	need := map[string][]string{
		StepHashVerified: {"sha256"},
		StepTransferred:  {"from", "to", "medium", "reference", "sha256"},
		StepStored:       {"location", "seal"},
		StepExamined:     {"tool", "purpose"},
		StepCopied:       {"sha256", "tool"},
		StepReturned:     {"to"},
		StepDestroyed:    {"note"},
	}
	fields, ok := need[c.Step]
	if !ok {
		return invalidf("custody step %q is not one of hash_verified, transferred, stored, examined, copied, returned, destroyed", c.Step)
	}
	vals := map[string]string{"sha256": c.SHA256, "from": c.From, "to": c.To, "medium": c.Medium, "reference": c.Reference,
		"location": c.Location, "seal": c.Seal, "tool": c.Tool, "purpose": c.Purpose, "note": c.Note, "media_type": c.MediaType}
	for name, v := range vals {
		min := 0
		if slices.Contains(fields, name) {
			min = 1
		}
		if err := checkText(name, v, min, maxShort); err != nil {
			return fmt.Errorf("custody step %s: %w", c.Step, err)
		}
	}
	if c.SHA256 != "" {
		h, err := checkSHA256("sha256", c.SHA256)
		if err != nil {
			return err
		}
		c.SHA256 = h
	}
	if c.Size < 0 {
		return invalidf("size must not be negative")
	}
	return nil
}

// Package incident is the incident desk: cases, observables, linked
// events, evidence with its chain of custody, and response actions with
// their guardrail decisions, approvals and execution.
//
// The evidence log is the system of record. Every change is first a log
// entry (kinds incident.*, evidence.*, action.*; header incident = the
// incident's ID; JSON payload with the IDs and data), then applied to the
// SQLite projection tables (inc_*) by one function, apply, which Rebuild
// runs too: the rebuilt projection equals the live one by construction.
// A Desk serialises its writes, so entries are applied in log order.
//
// Log before act: Execute re-runs the guardrail with the recorded
// approvals, logs the result, logs action.executing with a Permit made of
// log receipts, and only then calls the Executor, which must pass
// CheckPermit first. CheckPermit reads the entries behind the receipts,
// checks their leaf hashes, and requires an allow decision and the
// required approvals for exactly this action.
//
// Deviations from the first design, with reasons:
//   - The guardrail's decision entries (kind "decision", written by the
//     Decider) carry no action ID, so the desk binds each decision to its
//     action with its own entry (action.decided, and action.rechecked for
//     the re-run before execution); a Permit's Decision is the receipt of
//     that binding entry, and CheckPermit follows it to the decision entry.
//   - action.rechecked is an extra kind: the re-run before execution,
//     whatever its verdict (a refusal is this entry with a verdict other
//     than allow); it changes no state.
//   - IDs are random (INC-, EVD-, ACT- and 10 Crockford base32 characters):
//     they must be known before the append, and a sequence would depend
//     on append order across desks.
//
// Limits: one Desk per database writes (several vallum processes on one
// database would each need the log's sequencing lock around their
// writes); erasing a payload after it was projected reaches the tables
// only at the next Rebuild; an action left executing by a crash has no
// way yet to record its outcome.
//
// See docs/incidents.md for the model, lifecycle and log kinds.
package incident

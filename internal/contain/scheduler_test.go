package contain

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
)

// TestSchedulerSurvivesRestart: a sinkhole applied by one manager expires
// while "Vallum is down"; a new manager rebuilt from the log expires it at
// once when its scheduler starts, and the desk records it. No root needed.
func TestSchedulerSurvivesRestart(t *testing.T) {
	e := newDeskEnv(t)
	zone := filepath.Join(t.TempDir(), "rpz.zone")
	r, err := NewRPZ(RPZConfig{Device: "dns1", Zone: "rpz.vallum.", File: zone, CNAME: "."})
	if err != nil {
		t.Fatal(err)
	}
	perim := mustPerimeter(t, deskPerimeter)
	m := newManager(t, e, perim, r)
	ctx := context.Background()

	a := e.decided(t, "dns_sinkhole", "c2.evil.example", guard.Params{Resolver: "dns1", ExpiresAt: time.Now().Add(1500 * time.Millisecond)})
	if _, err := e.desk.Execute(ctx, paola, a.ID, m.Executor(paola, nil)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Verify(ctx, paola, a.ID); err != nil {
		t.Fatal(err)
	}
	if els, _ := r.Elements(ctx); len(els) != 1 {
		t.Fatalf("zone names = %v", els)
	}
	// Our own name is refused.
	own := e.decided(t, "dns_sinkhole", "www.acme.example", guard.Params{Resolver: "dns1"})
	if _, err := e.desk.Execute(ctx, paola, own.ID, m.Executor(paola, nil)); err == nil || !strings.Contains(err.Error(), "our own names") {
		t.Fatalf("sinkholing our own name: %v", err)
	}

	time.Sleep(2 * time.Second) // "down" past the expiry
	m2 := newManager(t, e, perim, r)
	if act := m2.Active(); len(act) != 1 || act[0].Plan.Action != a.ID {
		t.Fatalf("rebuilt active = %+v", act)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m2.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := e.desk.GetAction(ctx, a.ID)
		if got.State == incident.Expired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overdue expiry not run at start: %s", got.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if els, _ := r.Elements(ctx); len(els) != 0 {
		t.Errorf("zone names after expiry = %v", els)
	}
	if len(m2.Active()) != 0 {
		t.Errorf("still active: %+v", m2.Active())
	}
	// A third start finds nothing active.
	if m3 := newManager(t, e, perim, r); len(m3.Active()) != 0 {
		t.Errorf("after restart: %+v", m3.Active())
	}
	k := strings.Join(e.kinds(t, a.ID), " ")
	if !strings.Contains(k, "contain.expiring contain.expired action.expired") {
		t.Errorf("log of %s: %s", a.ID, k)
	}
}

// TestPartialFailure: a webhook that fails reports the element and why,
// a release is attempted, and the action is failed.
func TestPartialFailure(t *testing.T) {
	e := newDeskEnv(t)
	rc := &receiver{fail: 100, status: 503, state: map[string]ReadBack{}}
	w := newWebhook(t, rc)
	m := newManager(t, e, mustPerimeter(t, deskPerimeter), w)
	a := e.decided(t, "host_isolation", "sensor1", guard.Params{Device: "edr"})
	_, err := e.desk.Execute(context.Background(), paola, a.ID, m.Executor(paola, nil))
	if err == nil || !strings.Contains(err.Error(), "sensor1 (HTTP 503)") {
		t.Fatalf("Execute = %v, want the element and its error", err)
	}
	got, _ := e.desk.GetAction(context.Background(), a.ID)
	// The release was attempted too (the receiver may have acted on a
	// call whose answer was lost); it failed as well, and says so.
	if !e.hasKind(t, KindFailed, `"rollback":{"outcomes":[{"element":"sensor1","ok":false`) {
		t.Error("the rollback is not in the failure entry")
	}
	if got.State != incident.Failed || len(m.Active()) != 0 || !e.hasKind(t, KindFailed, `"ok":false`) {
		t.Fatalf("after failure: %s, active %+v", got.State, m.Active())
	}
}

// TestInterruptedLift: Vallum stopped after logging a revert's intent and
// reverting, before logging the result. At the next start the action is
// known to be lifting: reconciliation does not re-apply it, and the
// scheduler completes the revert and records it.
func TestInterruptedLift(t *testing.T) {
	e := newDeskEnv(t)
	r, err := NewRPZ(RPZConfig{Device: "dns1", Zone: "rpz.vallum.", File: filepath.Join(t.TempDir(), "z"), CNAME: "."})
	if err != nil {
		t.Fatal(err)
	}
	perim := mustPerimeter(t, deskPerimeter)
	m := newManager(t, e, perim, r)
	ctx := context.Background()
	a := e.decided(t, "dns_sinkhole", "c2.evil.example", guard.Params{Resolver: "dns1"})
	if _, err := e.desk.Execute(ctx, paola, a.ID, m.Executor(paola, nil)); err != nil {
		t.Fatal(err)
	}
	act, _ := m.Lookup(a.ID)
	if _, err := m.write(ctx, "marta", KindReverting, e.inc, Step{Action: a.ID, Plan: &act.Plan, Reason: "attack over"}); err != nil {
		t.Fatal(err)
	}
	mustRevert(t, r, act.Plan) // … and the process stops here

	m2 := newManager(t, e, perim, r)
	if got, ok := m2.Lookup(a.ID); !ok || got.Lifting != KindReverting {
		t.Fatalf("after restart: %+v, %v", got, ok)
	}
	if _, err := m2.Reconcile(ctx, System, true); err != nil {
		t.Fatal(err)
	}
	if els, _ := r.Elements(ctx); len(els) != 0 {
		t.Fatalf("reconciliation re-applied a half-reverted sinkhole: %v", els)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m2.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, _ := e.desk.GetAction(ctx, a.ID); got.State == incident.Reverted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("interrupted revert not completed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	if len(m2.Active()) != 0 || !e.hasKind(t, KindReverted, "interrupted by a restart") {
		t.Errorf("after completion: %+v", m2.Active())
	}
}

// TestErasedLift: the payload of a contain.reverted entry is erased
// (GDPR: it names addresses); the next start still knows the sinkhole was
// lifted (from the desk) and reconciliation does not bring it back.
func TestErasedLift(t *testing.T) {
	e := newDeskEnv(t)
	r, err := NewRPZ(RPZConfig{Device: "dns1", Zone: "rpz.vallum.", File: filepath.Join(t.TempDir(), "z"), CNAME: "."})
	if err != nil {
		t.Fatal(err)
	}
	perim := mustPerimeter(t, deskPerimeter)
	m := newManager(t, e, perim, r)
	ctx := context.Background()
	a := e.decided(t, "dns_sinkhole", "c2.evil.example", guard.Params{Resolver: "dns1"})
	if _, err := e.desk.Execute(ctx, paola, a.ID, m.Executor(paola, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Revert(ctx, marta, a.ID, "done"); err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < e.log.Size(); i++ {
		en, _ := e.log.Entry(i)
		h, _ := evidence.DecodeHeader(en.Header)
		if h.Kind == KindReverted {
			if _, err := e.log.Erase(ctx, i, "GDPR art. 17 test", "dpo"); err != nil {
				t.Fatal(err)
			}
		}
	}
	m2 := newManager(t, e, perim, r)
	if len(m2.Active()) != 0 {
		t.Fatalf("a lifted sinkhole is active again: %+v", m2.Active())
	}
	if d, err := m2.Reconcile(ctx, System, true); err != nil || len(d) != 0 {
		t.Fatalf("Reconcile = %+v, %v", d, err)
	}
	if els, _ := r.Elements(ctx); len(els) != 0 {
		t.Fatalf("zone names = %v", els)
	}
}

package contain

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vallum/vallum/internal/evidence"
	"github.com/vallum/vallum/internal/guard"
	"github.com/vallum/vallum/internal/incident"
	"github.com/vallum/vallum/internal/perimeter"
	"github.com/vallum/vallum/internal/testenv"
)

// deskPerimeter is what the guardrail decides with: the firewall and
// resolver we operate, the defended host's network, the host as an asset.
var deskPerimeter = perimeter.File{
	Networks: []perimeter.Network{{CIDR: "10.77.0.0/24"}},
	Domains:  []string{"acme.example"},
	Assets:   []perimeter.Asset{{Name: "sensor1", Addresses: []string{bAddr4}}},
	Devices:  []perimeter.Device{{Name: "fw-host", Kind: "firewall"}, {Name: "dns1", Kind: "resolver"}, {Name: "edr", Kind: "edr"}},
}

type deskEnv struct {
	log  *evidence.Log
	desk *incident.Desk
	inc  string
}

func newDeskEnv(t testing.TB) *deskEnv {
	t.Helper()
	dir := t.TempDir()
	l, _ := testenv.Log(t, dir, "contain-test.vallum.example/log")
	db := testenv.DB(t, dir)
	desk, err := incident.Open(context.Background(), db, l, testenv.NewDecider(t, deskPerimeter, l, incident.DecisionKind, "guardrail"), nil)
	if err != nil {
		t.Fatal(err)
	}
	inc, err := desk.Create(context.Background(), paola, incident.NewIncident{Title: "ssh brute force on sensor1", Severity: incident.High})
	if err != nil {
		t.Fatal(err)
	}
	return &deskEnv{log: l, desk: desk, inc: inc.ID}
}

var (
	paola = incident.Actor{Name: "paola", Roles: []string{"analyst"}}
	marta = incident.Actor{Name: "marta", Roles: []string{"incident_commander"}}
)

// decided proposes and decides an action.
func (e *deskEnv) decided(t testing.TB, kind, target string, params guard.Params) incident.Action {
	t.Helper()
	ctx := context.Background()
	a, err := e.desk.Propose(ctx, paola, e.inc, guard.Request{Action: guard.Action{Kind: kind, Target: target, Params: params}})
	if err != nil {
		t.Fatal(err)
	}
	a, err = e.desk.Decide(ctx, paola, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Verdict != guard.Allow {
		t.Fatalf("%s %s decided %s (missing %v)", kind, target, a.Verdict, a.Missing)
	}
	return a
}

// kinds returns the kinds of the log entries about action id, in order.
func (e *deskEnv) kinds(t testing.TB, id string) []string {
	t.Helper()
	var out []string
	for i := int64(0); i < e.log.Size(); i++ {
		en, err := e.log.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := evidence.DecodeHeader(en.Header)
		if strings.Contains(string(en.Payload), `"action":"`+id+`"`) {
			out = append(out, h.Kind)
		}
	}
	return out
}

func (e *deskEnv) hasKind(t testing.TB, kind, substr string) bool {
	t.Helper()
	for i := int64(0); i < e.log.Size(); i++ {
		en, _ := e.log.Entry(i)
		h, _ := evidence.DecodeHeader(en.Header)
		if h.Kind == kind && strings.Contains(string(en.Payload), substr) {
			return true
		}
	}
	return false
}

func newManager(t testing.TB, e *deskEnv, perim *perimeter.Perimeter, conns ...Connector) *Manager {
	t.Helper()
	m, err := Open(context.Background(), Options{
		Log: e.log, Desk: e.desk, Perimeter: func() *perimeter.Perimeter { return perim }, Connectors: conns, Logger: testenv.Discard(),
		Safety: Safety{Self: []netipPrefix{mustPrefix(bAddr4)}, MaxElements: 16, MinBits4: 16, MinBits6: 32},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDeskEndToEnd: propose → decide → execute with the nftables
// connector → verify (observed) → revert, each step a log entry, the
// block proven with traffic; a forged permit refused; the expiry
// scheduler lifting a block on time; a restart rebuilding the active
// blocks from the log and reconciling drift.
func TestDeskEndToEnd(t *testing.T) {
	tp := newTopo(t)
	e := newDeskEnv(t)
	n := openNFT(t, tp, nil)
	perim, err := perimeter.New(deskPerimeter)
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, e, perim, n)
	port := serveTCP(t, tp.b)
	ctx := context.Background()

	a := e.decided(t, "firewall_block", aAddr4, guard.Params{Device: "fw-host", ExpiresAt: time.Now().Add(time.Hour)})
	if p, err := m.PlanAction(ctx, a); err != nil || len(p.Changes) != 1 || p.Changes[0].Element != aAddr4+"/32" {
		t.Fatalf("PlanAction = %+v, %v", p, err)
	}
	a, err = e.desk.Execute(ctx, paola, a.ID, m.Executor(paola, nil))
	if err != nil {
		t.Fatal(err)
	}
	if a.State != incident.Executed || a.Result.Executor != "contain" {
		t.Fatalf("after execute: %+v", a)
	}
	if reach(t, tp.a, aAddr4, bAddr4, port) {
		t.Fatal("executed block not in force")
	}
	a, obs, err := m.Verify(ctx, marta, a.ID)
	if err != nil || a.State != incident.Verified || !obs.OK || !obs.Elements[0].Present {
		t.Fatalf("Verify = %+v, %+v, %v", a.State, obs, err)
	}
	if len(m.Active()) != 1 {
		t.Fatalf("active = %+v", m.Active())
	}

	// A forged permit (another action's decision) is refused before any
	// effect.
	b := e.decided(t, "firewall_block", aAddr4c, guard.Params{Device: "fw-host"})
	forged := incident.Permit{Decision: *a.Decision}
	if _, err := m.Executor(paola, nil).Execute(ctx, b, forged); !errors.Is(err, incident.ErrNoPermit) {
		t.Fatalf("forged permit: got %v, want ErrNoPermit", err)
	}
	if !reach(t, tp.a, aAddr4c, bAddr4, port) {
		t.Fatal("a forged permit blocked traffic")
	}

	a, err = m.Revert(ctx, marta, a.ID, "attack over")
	if err != nil || a.State != incident.Reverted {
		t.Fatalf("Revert = %v, %v", a.State, err)
	}
	if !reach(t, tp.a, aAddr4, bAddr4, port) {
		t.Fatal("traffic not restored after revert")
	}
	got := strings.Join(e.kinds(t, a.ID), " ")
	for _, want := range []string{"action.proposed", "action.decided", "action.rechecked", "action.executing", "contain.planned", "contain.applied", "action.executed",
		"contain.verified", "action.verified", "contain.reverting", "contain.reverted", "action.reverted"} {
		if !strings.Contains(got, want) {
			t.Errorf("log of %s lacks %s: %s", a.ID, want, got)
		}
	}
	if !strings.Contains(got, "contain.planned contain.applied action.executed") || !strings.Contains(got, "contain.reverting contain.reverted action.reverted") {
		t.Errorf("log of %s out of order: %s", a.ID, got)
	}

	// Expiry: the scheduler lifts a block on time and the desk records it.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	x := e.decided(t, "firewall_block", "10.77.2.0/24", guard.Params{Device: "fw-host", ExpiresAt: time.Now().Add(2 * time.Second)})
	if _, err := e.desk.Execute(ctx, paola, x.ID, m.Executor(paola, nil)); err != nil {
		t.Fatal(err)
	}
	if reach(t, tp.a, aAddr4b, bAddr4, port) {
		t.Fatal("/24 block not in force")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		x, _ = e.desk.GetAction(ctx, x.ID)
		if x.State == incident.Expired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("block not expired after 15 s: state %s", x.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	<-done
	if !reach(t, tp.a, aAddr4b, bAddr4, port) {
		t.Fatal("traffic not restored after expiry")
	}
	if k := strings.Join(e.kinds(t, x.ID), " "); !strings.Contains(k, "contain.expiring contain.expired action.expired") {
		t.Errorf("expiry not logged in order: %s", k)
	}

	// Restart: a new manager rebuilds the active blocks from the log;
	// drift (a block removed behind our back, one added) is logged and
	// repaired.
	y := e.decided(t, "firewall_block", "fd77::2:0/112", guard.Params{Device: "fw-host", ExpiresAt: time.Now().Add(time.Hour)})
	if _, err := e.desk.Execute(ctx, paola, y.ID, m.Executor(paola, nil)); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "exec", tp.b, "nft", "delete", "element", "inet", "vallum", "block6", "{ fd77::2:0/112 }")
	run(t, "ip", "netns", "exec", tp.b, "nft", "add", "element", "inet", "vallum", "block4", "{ 10.77.3.0/24 }")
	m2 := newManager(t, e, perim, n)
	if act := m2.Active(); len(act) != 1 || act[0].Plan.Action != y.ID {
		t.Fatalf("rebuilt active = %+v", act)
	}
	drifts, err := m2.Reconcile(ctx, System, true)
	if err != nil || len(drifts) != 1 || len(drifts[0].Missing[y.ID]) != 1 || len(drifts[0].Extra) != 1 || !drifts[0].Repaired {
		t.Fatalf("Reconcile = %+v, %v", drifts, err)
	}
	if !e.hasKind(t, KindDrift, "10.77.3.0/24") || !e.hasKind(t, KindReconciled, `"repaired":true`) {
		t.Error("drift not logged")
	}
	if reach(t, tp.a, aAddr6b, bAddr6, port) || !reach(t, tp.a, aAddr4c, bAddr4, port) {
		t.Error("reconciliation did not restore the logged state")
	}
	if drifts, err := m2.Reconcile(ctx, System, true); err != nil || len(drifts) != 0 {
		t.Errorf("second Reconcile = %+v, %v; want no drift", drifts, err)
	}
	exec.Command("true").Run()
}

// TestSelfLockout: blocking the Vallum host's own address or a protected
// address is refused and logged, whatever the guardrail said; force with
// a reason overrides it and is logged first.
func TestSelfLockout(t *testing.T) {
	tp := newTopo(t)
	e := newDeskEnv(t)
	n := openNFT(t, tp, nil)
	// The perimeter changed after the decision: the gateway is now
	// protected.
	f := deskPerimeter
	f.Protected = []string{"10.77.0.1/32"}
	perim, err := perimeter.New(f)
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, e, perim, n)
	ctx := context.Background()
	for _, target := range []string{bAddr4, "10.77.0.1", "10.77.0.0/24"} {
		a := e.decided(t, "firewall_block", target, guard.Params{Device: "fw-host"})
		_, err := e.desk.Execute(ctx, paola, a.ID, m.Executor(paola, nil))
		if !errors.Is(err, ErrRefused) {
			t.Errorf("block %s: got %v, want a refusal", target, err)
		}
		if k := e.kinds(t, a.ID); !strings.Contains(strings.Join(k, " "), "contain.refused action.failed") {
			t.Errorf("block %s: refusal not logged: %v", target, k)
		}
	}
	if els, _ := n.Elements(ctx); len(els) != 0 {
		t.Fatalf("refused blocks reached the kernel: %v", els)
	}
	// A wide prefix is refused without force, and forced with a reason.
	a := e.decided(t, "firewall_block", "100.64.0.0/10", guard.Params{Device: "fw-host"})
	if _, err := m.PlanAction(ctx, a); !errors.Is(err, ErrRefused) {
		t.Fatalf("PlanAction of a /10: %v", err)
	}
	if _, err := e.desk.Execute(ctx, marta, a.ID, m.Executor(marta, &Force{Reason: "carrier-grade NAT range used by the botnet, ticket SOC-9"})); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if !e.hasKind(t, KindForced, "SOC-9") {
		t.Error("force not logged")
	}
	// A device that is not ours is never forced.
	b := e.decided(t, "firewall_block", aAddr4, guard.Params{Device: "fw-host"})
	m2 := newManager(t, e, mustPerimeter(t, perimeter.File{}), n)
	if _, err := e.desk.Execute(ctx, marta, b.ID, m2.Executor(marta, &Force{Reason: "x"})); !errors.Is(err, ErrRefused) {
		t.Fatalf("device not ours, forced: %v", err)
	}
}

func mustPerimeter(t testing.TB, f perimeter.File) *perimeter.Perimeter {
	t.Helper()
	p, err := perimeter.New(f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type netipPrefix = netip.Prefix

func mustPrefix(s string) netip.Prefix {
	p, err := ParsePrefix(s)
	if err != nil {
		panic(err)
	}
	return p
}

// TestSharedElement: two actions block the same address; the kernel
// keeps it until the later expiry, reverting one leaves the block in
// force, reverting both lifts it.
func TestSharedElement(t *testing.T) {
	tp := newTopo(t)
	e := newDeskEnv(t)
	n := openNFT(t, tp, nil)
	m := newManager(t, e, mustPerimeter(t, deskPerimeter), n)
	port := serveTCP(t, tp.b)
	ctx := context.Background()
	exec1 := func(exp time.Duration) incident.Action {
		t.Helper()
		a := e.decided(t, "firewall_block", aAddr4, guard.Params{Device: "fw-host", ExpiresAt: time.Now().Add(exp)})
		a, err := e.desk.Execute(ctx, paola, a.ID, m.Executor(paola, nil))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := exec1(time.Hour)
	b := exec1(3 * time.Hour)
	obs, err := m.Observe(ctx, paola, a.ID)
	if err != nil || !strings.Contains(obs.Elements[0].Detail, "expires in 2h59m") && !strings.Contains(obs.Elements[0].Detail, "expires in 3h0m0s") {
		t.Fatalf("kernel timeout not refreshed to the later expiry: %+v, %v", obs, err)
	}
	if _, err := m.Revert(ctx, marta, a.ID, "one of two"); err != nil {
		t.Fatal(err)
	}
	if reach(t, tp.a, aAddr4, bAddr4, port) {
		t.Fatal("reverting one of two holders lifted the block")
	}
	if !e.hasKind(t, KindReverted, "held by other active actions") {
		t.Error("the kept element is not in the revert's report")
	}
	if _, err := m.Revert(ctx, marta, b.ID, "both"); err != nil {
		t.Fatal(err)
	}
	if !reach(t, tp.a, aAddr4, bAddr4, port) {
		t.Fatal("block still in force after both reverts")
	}
}

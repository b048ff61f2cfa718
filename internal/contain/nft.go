package contain

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// NFTablesConfig configures an nftables connector: a table of family inet
// owned by Vallum on the host (or network namespace) where Vallum or its
// sensor runs.
type NFTablesConfig struct {
	// Device is the connector's name: a device of kind firewall in the
	// perimeter file. Actions name it in params.device.
	Device string `yaml:"device"`
	// Table is the nftables table Vallum owns (family inet). Default
	// "vallum". Vallum rewrites its chains and management sets at start;
	// nothing else should write to it.
	Table string `yaml:"table"`
	// NetNS is the path of a network namespace file (/var/run/netns/NAME,
	// /proc/PID/ns/net) to enforce in; empty means the server's own.
	NetNS string `yaml:"netns"`
	// Isolation enables host_isolation of this host; nil disables it.
	Isolation *IsolationConfig `yaml:"isolation"`
}

// IsolationConfig says which host the table isolates and what stays
// reachable.
type IsolationConfig struct {
	// Host is the asset name (perimeter file) of the host this table runs
	// on: host_isolation actions must target it.
	Host string `yaml:"host"`
	// Management are the addresses or prefixes that stay reachable while
	// the host is isolated (the SOC's jump hosts, the Vallum server).
	// Loopback and IPv6 neighbour discovery stay allowed too.
	Management []string `yaml:"management"`
}

// Names inside the table.
const (
	setBlock4  = "block4"
	setBlock6  = "block6"
	setMgmt4   = "mgmt4"
	setMgmt6   = "mgmt6"
	chainIn    = "input"
	chainOut   = "output"
	chainFwd   = "forward"
	chainIsoIn = "isolate_in"
	chainIsoOt = "isolate_out"
	chainIsoFw = "isolate_fwd"
	// isolateElement is the element name of an isolation in plans.
	isolateElement = "isolate"
)

// maxPerMessage bounds the prefixes in one netlink message (an attribute
// is at most 64 KiB); maxPerFlush bounds one batch (the netlink socket's
// send buffer, about 200 KiB by default).
const (
	maxPerMessage = 400
	maxPerFlush   = 1600
)

// NFTables is the nftables connector. It is safe for concurrent use:
// concurrent block requests are coalesced into one netlink batch (group
// commit), which is how thousands of decisions per second are applied.
type NFTables struct {
	cfg  NFTablesConfig
	mgmt []netip.Prefix
	// hostAddrs are the interface addresses of the namespace, read at open.
	hostAddrs []netip.Prefix
	conn      *nftables.Conn
	nsfd      int // -1 when not in another namespace
	table     *nftables.Table
	sets      map[string]*nftables.Set
	chain     map[string]*nftables.Chain

	// mu serialises netlink batches on conn (the lasting connection
	// carries one batch at a time).
	mu sync.Mutex

	// bmu guards pending and leading: the group commit of element changes.
	bmu     sync.Mutex
	pending []*nftReq
	leading bool
}

var _ Connector = (*NFTables)(nil)

// OpenNFTables connects to netfilter (in cfg.NetNS if set) and creates or
// repairs Vallum's table: the block and management sets, the base chains
// (input, forward, output at priority filter-10, policy accept) with their
// drop rules, and the isolation chains, whose rules are left as they are
// (an isolation survives a restart). Management sets are rewritten from
// cfg. It needs CAP_NET_ADMIN.
func OpenNFTables(cfg NFTablesConfig) (*NFTables, error) {
	if cfg.Device == "" {
		return nil, errors.New("nftables: device must name the firewall device of the perimeter file")
	}
	if cfg.Table == "" {
		cfg.Table = "vallum"
	}
	n := &NFTables{cfg: cfg, nsfd: -1, sets: map[string]*nftables.Set{}, chain: map[string]*nftables.Chain{}}
	if cfg.Isolation != nil {
		if cfg.Isolation.Host == "" {
			return nil, errors.New("nftables: isolation.host must name the asset this host is")
		}
		for i, s := range cfg.Isolation.Management {
			p, err := ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("nftables: isolation.management[%d]: %w", i, err)
			}
			n.mgmt = append(n.mgmt, p)
		}
		if len(n.mgmt) == 0 {
			return nil, errors.New("nftables: isolation.management must list at least one address: an isolated host must stay reachable")
		}
	}
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if cfg.NetNS != "" {
		fd, err := unix.Open(cfg.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("nftables: couldn't open network namespace %s: %w", cfg.NetNS, err)
		}
		n.nsfd = fd
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	if err := n.readHostAddrs(); err != nil {
		n.closeNS()
		return nil, err
	}
	conn, err := nftables.New(opts...)
	if err != nil {
		n.closeNS()
		return nil, fmt.Errorf("nftables: couldn't open netlink: %w", err)
	}
	n.conn = conn
	if err := n.setup(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// HostAddrs are the interface addresses of the host (namespace) the table
// is in, read at open: blocking them would cut the host off, so the
// server adds them to the safety rules' own addresses.
func (n *NFTables) HostAddrs() []netip.Prefix { return n.hostAddrs }

// readHostAddrs lists the interface addresses in the connector's
// namespace (on a thread switched into it, when it is another one).
func (n *NFTables) readHostAddrs() error {
	if n.nsfd < 0 {
		n.hostAddrs = LocalAddrs()
		return nil
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(n.nsfd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		n.hostAddrs = LocalAddrs()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread stays locked and ends with this goroutine.
			errc <- nil
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("nftables: couldn't read the addresses of namespace %s: %w", n.cfg.NetNS, err)
	}
	return nil
}

// Close releases the netlink connection. The table stays in the kernel.
func (n *NFTables) Close() error {
	var err error
	if n.conn != nil {
		err = n.conn.CloseLasting()
	}
	n.closeNS()
	return err
}

func (n *NFTables) closeNS() {
	if n.nsfd >= 0 {
		unix.Close(n.nsfd)
		n.nsfd = -1
	}
}

// Name returns the device name.
func (n *NFTables) Name() string { return n.cfg.Device }

// Type returns "nftables".
func (n *NFTables) Type() string { return "nftables" }

// Kinds returns firewall_block, and host_isolation when configured.
func (n *NFTables) Kinds() []string {
	if n.cfg.Isolation != nil {
		return []string{"firewall_block", "host_isolation"}
	}
	return []string{"firewall_block"}
}

// Table returns the table's name.
func (n *NFTables) Table() string { return n.cfg.Table }

func (n *NFTables) setup() error {
	c := n.conn
	n.table = c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: n.cfg.Table})
	for _, s := range []struct {
		name    string
		typ     nftables.SetDatatype
		timeout bool
	}{{setBlock4, nftables.TypeIPAddr, true}, {setBlock6, nftables.TypeIP6Addr, true}, {setMgmt4, nftables.TypeIPAddr, false}, {setMgmt6, nftables.TypeIP6Addr, false}} {
		set := &nftables.Set{Table: n.table, Name: s.name, KeyType: s.typ, Interval: true, HasTimeout: s.timeout}
		if err := c.AddSet(set, nil); err != nil {
			return fmt.Errorf("nftables: set %s: %w", s.name, err)
		}
		n.sets[s.name] = set
	}
	prio := nftables.ChainPriorityRef(-10)
	accept := nftables.ChainPolicyAccept
	for _, ch := range []struct {
		name string
		hook *nftables.ChainHook
	}{{chainIn, nftables.ChainHookInput}, {chainFwd, nftables.ChainHookForward}, {chainOut, nftables.ChainHookOutput}} {
		n.chain[ch.name] = c.AddChain(&nftables.Chain{Name: ch.name, Table: n.table, Hooknum: ch.hook, Priority: prio, Type: nftables.ChainTypeFilter, Policy: &accept})
	}
	for _, name := range []string{chainIsoIn, chainIsoOt, chainIsoFw} {
		n.chain[name] = c.AddChain(&nftables.Chain{Name: name, Table: n.table})
	}
	// Base chains: rewritten in the same batch, so there is no instant
	// without the drop rules.
	for _, name := range []string{chainIn, chainFwd, chainOut} {
		c.FlushChain(n.chain[name])
	}
	drop := func(chain string, v6, dst bool, set string) {
		c.AddRule(&nftables.Rule{Table: n.table, Chain: n.chain[chain], Exprs: matchSet(v6, dst, n.sets[set], &expr.Verdict{Kind: expr.VerdictDrop})})
	}
	drop(chainIn, false, false, setBlock4)
	drop(chainIn, true, false, setBlock6)
	drop(chainOut, false, true, setBlock4)
	drop(chainOut, true, true, setBlock6)
	for _, dst := range []bool{false, true} {
		drop(chainFwd, false, dst, setBlock4)
		drop(chainFwd, true, dst, setBlock6)
	}
	for chain, iso := range map[string]string{chainIn: chainIsoIn, chainOut: chainIsoOt, chainFwd: chainIsoFw} {
		c.AddRule(&nftables.Rule{Table: n.table, Chain: n.chain[chain], Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: iso}}})
	}
	c.FlushSet(n.sets[setMgmt4])
	c.FlushSet(n.sets[setMgmt6])
	var m4, m6 []nftables.SetElement
	for _, p := range n.mgmt {
		if p.Addr().Is4() {
			m4 = append(m4, intervalElems(p, 0)...)
		} else {
			m6 = append(m6, intervalElems(p, 0)...)
		}
	}
	if len(m4) > 0 {
		c.SetAddElements(n.sets[setMgmt4], m4)
	}
	if len(m6) > 0 {
		c.SetAddElements(n.sets[setMgmt6], m6)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: couldn't set up table inet %s: %w", n.cfg.Table, err)
	}
	return nil
}

// matchSet is "ip[6] saddr|daddr @set" followed by then.
func matchSet(v6, dst bool, set *nftables.Set, then ...expr.Any) []expr.Any {
	proto, off, l := byte(unix.NFPROTO_IPV4), uint32(12), uint32(4)
	if dst {
		off = 16
	}
	if v6 {
		proto, off, l = unix.NFPROTO_IPV6, 8, 16
		if dst {
			off = 24
		}
	}
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: l},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
	}
	return append(e, then...)
}

// ifname is an interface name as the kernel compares it (IFNAMSIZ bytes).
func ifname(s string) []byte {
	b := make([]byte, 16)
	copy(b, s)
	return b
}

// isolationRules are the rules of the isolation chains while a host is
// isolated: loopback, the management sets and IPv6 neighbour discovery
// pass; everything else is dropped. Forwarding stops entirely.
func (n *NFTables) isolationRules() map[string][][]expr.Any {
	accept := &expr.Verdict{Kind: expr.VerdictAccept}
	drop := []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	nd := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_ICMPV6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: []byte{133}, ToData: []byte{136}},
		accept,
	}
	lo := func(key expr.MetaKey) []expr.Any {
		return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")}, accept}
	}
	return map[string][][]expr.Any{
		chainIsoIn: {lo(expr.MetaKeyIIFNAME), matchSet(false, false, n.sets[setMgmt4], accept), matchSet(true, false, n.sets[setMgmt6], accept), nd, drop},
		chainIsoOt: {lo(expr.MetaKeyOIFNAME), matchSet(false, true, n.sets[setMgmt4], accept), matchSet(true, true, n.sets[setMgmt6], accept), nd, drop},
		chainIsoFw: {drop},
	}
}

// ParsePrefix parses an address (a single host) or a canonical CIDR
// prefix; IPv4-mapped IPv6 forms are unmapped. Zones are refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: an address with a zone cannot be blocked", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a CIDR prefix", s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, p.Masked())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// intervalElems encodes p as the two elements of an interval set: its
// first address, and the address after its last flagged as the interval's
// end. A prefix that reaches the last address has no end element.
func intervalElems(p netip.Prefix, timeout time.Duration) []nftables.SetElement {
	first := p.Addr().AsSlice()
	els := []nftables.SetElement{{Key: first, Timeout: timeout}}
	if end := lastAddr(p).Next(); end.IsValid() {
		els = append(els, nftables.SetElement{Key: end.AsSlice(), IntervalEnd: true})
	}
	return els
}

// setFor returns the block set of p's family.
func (n *NFTables) setFor(p netip.Prefix) *nftables.Set {
	if p.Addr().Is4() {
		return n.sets[setBlock4]
	}
	return n.sets[setBlock6]
}

// Plan describes the elements a block adds to the sets, or the isolation
// rules. A firewall_block target must be an address or a prefix.
func (n *NFTables) Plan(ctx context.Context, s Spec) (Plan, error) {
	p := Plan{Action: s.Action, Connector: n.Type(), Device: n.cfg.Device, Kind: s.Kind, Target: s.Target, Expires: s.Expires}
	timeout := "no timeout (until reverted)"
	if !s.Expires.IsZero() {
		timeout = "kernel timeout until " + s.Expires.UTC().Format(time.RFC3339)
	}
	switch s.Kind {
	case "firewall_block":
		pfx, err := ParsePrefix(s.Target)
		if err != nil {
			return Plan{}, fmt.Errorf("%w: firewall_block on nftables needs an address or a prefix: %v", ErrUnsupported, err)
		}
		if !lastAddr(pfx).Next().IsValid() {
			return Plan{}, fmt.Errorf("%w: %s reaches the last address of its family", ErrUnsupported, pfx)
		}
		set := n.setFor(pfx)
		p.Changes = []Change{{Op: "add", Element: pfx.String(), Where: fmt.Sprintf("inet %s set %s", n.cfg.Table, set.Name),
			Detail: "traffic from and to it dropped in input, forward and output; " + timeout}}
	case "host_isolation":
		if n.cfg.Isolation == nil {
			return Plan{}, fmt.Errorf("%w: isolation is not configured on %s", ErrUnsupported, n.cfg.Device)
		}
		if !strings.EqualFold(s.Target, n.cfg.Isolation.Host) {
			return Plan{}, fmt.Errorf("%w: %s isolates only the host it runs on (%s), not %q", ErrUnsupported, n.cfg.Device, n.cfg.Isolation.Host, s.Target)
		}
		var mg []string
		for _, m := range n.mgmt {
			mg = append(mg, m.String())
		}
		p.Changes = []Change{{Op: "add", Element: isolateElement, Where: fmt.Sprintf("inet %s chains %s, %s, %s", n.cfg.Table, chainIsoIn, chainIsoOt, chainIsoFw),
			Detail: "drop all traffic of " + n.cfg.Isolation.Host + " except loopback, IPv6 neighbour discovery and management " + strings.Join(mg, ", ") + "; forwarding dropped"}}
		if !s.Expires.IsZero() {
			p.Notes = append(p.Notes, "rules carry no kernel timeout: the expiry scheduler lifts the isolation at "+s.Expires.UTC().Format(time.RFC3339))
		}
	default:
		return Plan{}, fmt.Errorf("%w: nftables does not carry out %s", ErrUnsupported, s.Kind)
	}
	return p, nil
}

// nftOp is one element change.
type nftOp struct {
	del     bool
	refresh bool // delete and add in one batch (an add with a new timeout)
	pfx     netip.Prefix
	timeout time.Duration
}

// nftReq is one caller's changes in a group commit.
type nftReq struct {
	ops  []nftOp
	errs []error // per op, set by the leader
	done chan struct{}
}

// Apply adds the plan's elements (or the isolation rules). Elements
// already present are left as they are.
func (n *NFTables) Apply(ctx context.Context, p Plan) (Report, error) {
	return n.change(ctx, p, false)
}

// Revert removes the plan's elements (absent ones count as removed) or
// lifts the isolation.
func (n *NFTables) Revert(ctx context.Context, p Plan) (Report, error) {
	return n.change(ctx, p, true)
}

func (n *NFTables) change(ctx context.Context, p Plan, del bool) (Report, error) {
	if p.Kind == "host_isolation" {
		return n.isolate(!del)
	}
	var ops []nftOp
	var r Report
	for _, c := range p.Changes {
		pfx, err := ParsePrefix(c.Element)
		if err != nil {
			r.Outcomes = append(r.Outcomes, Outcome{Element: c.Element, Error: err.Error()})
			continue
		}
		op := nftOp{del: del, pfx: pfx}
		exp := p.Expires
		if shared, ok := p.Shared[c.Element]; ok && !del {
			// Another action holds it too: re-add it with the latest
			// expiry of all holders (a plain add would keep the old
			// kernel timeout).
			op.refresh, exp = true, shared
		}
		if !del && !exp.IsZero() {
			op.timeout = time.Until(exp)
			if op.timeout < time.Second {
				r.Outcomes = append(r.Outcomes, Outcome{Element: c.Element, Error: "already expired"})
				continue
			}
		}
		ops = append(ops, op)
	}
	errs := n.Submit(ctx, ops)
	for i, op := range ops {
		o := Outcome{Element: op.pfx.String(), OK: errs[i] == nil}
		if errs[i] != nil {
			o.Error = errs[i].Error()
		}
		r.Outcomes = append(r.Outcomes, o)
	}
	return r, nil
}

// Block adds prefixes to the block sets in one group commit and returns
// one error per prefix (nil when it is in force). It is the bulk path the
// benchmark measures; actions go through Apply.
func (n *NFTables) Block(ctx context.Context, pfxs []netip.Prefix, timeout time.Duration) []error {
	ops := make([]nftOp, len(pfxs))
	for i, p := range pfxs {
		ops[i] = nftOp{pfx: p, timeout: timeout}
	}
	return n.Submit(ctx, ops)
}

// Submit applies element changes with a group commit: the first caller
// becomes the leader and flushes every pending request in one netlink
// batch (split at maxPerFlush elements), the others wait. If a batch
// fails (the kernel rejects a whole batch for one bad element), each
// request and then each element is retried alone, so errors are reported
// per element. Deleting an absent element and adding a present one
// succeed.
func (n *NFTables) Submit(ctx context.Context, ops []nftOp) []error {
	r := &nftReq{ops: ops, errs: make([]error, len(ops)), done: make(chan struct{})}
	if len(ops) == 0 {
		return r.errs
	}
	n.bmu.Lock()
	n.pending = append(n.pending, r)
	lead := !n.leading
	n.leading = true
	n.bmu.Unlock()
	if lead {
		for {
			n.bmu.Lock()
			batch := n.pending
			n.pending = nil
			if len(batch) == 0 {
				n.leading = false
				n.bmu.Unlock()
				break
			}
			n.bmu.Unlock()
			n.flushReqs(batch)
		}
	}
	// Wait for the batch even if ctx ends: the caller must learn what the
	// kernel did, so that the log says exactly that (a batch takes
	// milliseconds).
	<-r.done
	return r.errs
}

// flushReqs flushes the requests in batches of at most maxPerFlush
// elements and closes their done channels.
func (n *NFTables) flushReqs(reqs []*nftReq) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var group []*nftReq
	count := 0
	flush := func() {
		if len(group) == 0 {
			return
		}
		var ops []nftOp
		for _, r := range group {
			ops = append(ops, r.ops...)
		}
		if err := n.flushOps(ops); err != nil {
			for _, r := range group {
				n.retry(r)
			}
		}
		for _, r := range group {
			close(r.done)
		}
		group, count = nil, 0
	}
	for _, r := range reqs {
		if count+len(r.ops) > maxPerFlush && count > 0 {
			flush()
		}
		if len(r.ops) > maxPerFlush {
			n.retryChunks(r)
			close(r.done)
			continue
		}
		group = append(group, r)
		count += len(r.ops)
	}
	flush()
}

// retryChunks applies a request larger than one batch chunk by chunk.
func (n *NFTables) retryChunks(r *nftReq) {
	for i := 0; i < len(r.ops); i += maxPerFlush {
		end := min(len(r.ops), i+maxPerFlush)
		if err := n.flushOps(r.ops[i:end]); err != nil {
			for j := i; j < end; j++ {
				r.errs[j] = n.flushOne(r.ops[j])
			}
		}
	}
}

// retry flushes a request's ops alone, then one by one on failure.
func (n *NFTables) retry(r *nftReq) {
	if err := n.flushOps(r.ops); err == nil {
		return
	}
	for i, op := range r.ops {
		r.errs[i] = n.flushOne(op)
	}
}

// flushOne applies one op alone and explains its failure.
func (n *NFTables) flushOne(op nftOp) error {
	err := n.flushOps([]nftOp{op})
	switch {
	case err == nil:
		return nil
	case op.del && errors.Is(err, unix.ENOENT):
		return nil // already absent
	case op.refresh && errors.Is(err, unix.ENOENT):
		op.refresh = false // gone meanwhile (a kernel timeout): add it
		return n.flushOne(op)
	case !op.del && errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%s overlaps a different prefix already in set %s: %w", op.pfx, n.setFor(op.pfx).Name, err)
	}
	return err
}

// flushOps sends one batch with every op; n.mu is held. Adds are sent
// without NLM_F_EXCL (an identical element already present is no error);
// a delete of an absent element fails the batch with ENOENT.
func (n *NFTables) flushOps(ops []nftOp) error {
	type key struct {
		set *nftables.Set
		del bool
	}
	groups := map[key][]nftables.SetElement{}
	var order []key
	// Refreshes first delete the element, in the same batch as the add.
	for _, op := range ops {
		if op.refresh {
			if err := n.conn.SetDeleteElements(n.setFor(op.pfx), intervalElems(op.pfx, 0)); err != nil {
				n.conn.Flush()
				return err
			}
		}
	}
	for _, op := range ops {
		k := key{n.setFor(op.pfx), op.del}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], intervalElems(op.pfx, op.timeout)...)
	}
	for _, k := range order {
		els := groups[k]
		for i := 0; i < len(els); i += 2 * maxPerMessage {
			chunk := els[i:min(len(els), i+2*maxPerMessage)]
			var err error
			if k.del {
				err = n.conn.SetDeleteElements(k.set, chunk)
			} else {
				err = n.conn.SetAddElements(k.set, chunk)
			}
			if err != nil {
				n.conn.Flush() // drop what was queued
				return err
			}
		}
	}
	return n.conn.Flush()
}

// isolate fills (on) or empties the isolation chains in one batch.
func (n *NFTables) isolate(on bool) (Report, error) {
	if n.cfg.Isolation == nil {
		return Report{}, fmt.Errorf("%w: isolation is not configured", ErrUnsupported)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	rules := n.isolationRules()
	for _, name := range []string{chainIsoIn, chainIsoOt, chainIsoFw} {
		n.conn.FlushChain(n.chain[name])
		if on {
			for _, e := range rules[name] {
				n.conn.AddRule(&nftables.Rule{Table: n.table, Chain: n.chain[name], Exprs: e})
			}
		}
	}
	o := Outcome{Element: isolateElement, OK: true}
	if err := n.conn.Flush(); err != nil {
		o.OK, o.Error = false, err.Error()
	}
	return Report{Outcomes: []Outcome{o}}, nil
}

// Interval is one element read back from a block set.
type Interval struct {
	First, Last netip.Addr
	// Expires is the kernel's remaining time; zero when no timeout.
	Expires time.Duration
}

// String is the prefix when the interval is one, else first-last.
func (iv Interval) String() string {
	if p, ok := iv.Prefix(); ok {
		return p.String()
	}
	return iv.First.String() + "-" + iv.Last.String()
}

// Prefix returns the interval as a CIDR prefix if it is exactly one.
func (iv Interval) Prefix() (netip.Prefix, bool) {
	for bits := 0; bits <= iv.First.BitLen(); bits++ {
		p := netip.PrefixFrom(iv.First, bits)
		if p.Masked() == p && lastAddr(p) == iv.Last {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Blocked reads both block sets back from the kernel.
func (n *NFTables) Blocked() ([]Interval, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Interval
	for _, name := range []string{setBlock4, setBlock6} {
		els, err := n.conn.GetSetElements(n.sets[name])
		if err != nil {
			return nil, fmt.Errorf("nftables: couldn't read set %s: %w", name, err)
		}
		out = append(out, Intervals(els)...)
	}
	return out, nil
}

// Intervals turns the elements of an interval set (starts, and ends
// flagged IntervalEnd holding the address after the last) into intervals.
// Elements with keys of a wrong length are skipped.
func Intervals(els []nftables.SetElement) []Interval {
	type el struct {
		a   netip.Addr
		end bool
		exp time.Duration
	}
	var list []el
	for _, e := range els {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok || (len(e.Key) != 4 && len(e.Key) != 16) {
			continue
		}
		list = append(list, el{a, e.IntervalEnd, e.Expires})
	}
	// Sort by address; at one address an end comes before a start (the
	// end of one interval can be the start of the next).
	slices.SortFunc(list, func(x, y el) int {
		if c := x.a.Compare(y.a); c != 0 {
			return c
		}
		if x.end == y.end {
			return 0
		}
		if x.end {
			return -1
		}
		return 1
	})
	var out []Interval
	for i := 0; i < len(list); i++ {
		if list[i].end {
			continue // an end without a start (the zero address start is implicit in some kernels)
		}
		iv := Interval{First: list[i].a, Expires: list[i].exp}
		if i+1 < len(list) && list[i+1].end {
			iv.Last = list[i+1].a.Prev()
			i++
		} else {
			iv.Last = lastAddr(netip.PrefixFrom(iv.First, 0))
		}
		out = append(out, iv)
	}
	return out
}

// Verify reads the sets (or the isolation chains) back and reports each
// planned element as observed.
func (n *NFTables) Verify(ctx context.Context, p Plan, present bool) (Observation, error) {
	obs := Observation{At: time.Now().UTC(), Want: want(present), OK: true}
	if p.Kind == "host_isolation" {
		on, detail, err := n.isolated()
		if err != nil {
			return Observation{}, err
		}
		obs.Elements = []Observed{{Element: isolateElement, Present: on, Detail: detail}}
		if on != present {
			obs.OK = false
			obs.Detail = fmt.Sprintf("isolation is %s in the kernel, want %s", map[bool]string{true: "on", false: "off"}[on], want(present))
		}
		return obs, nil
	}
	// One small request per element and end: the cost does not grow with
	// the set (a dump of the whole set would).
	for _, c := range p.Changes {
		o := Observed{Element: c.Element}
		pfx, err := ParsePrefix(c.Element)
		if err != nil {
			return Observation{}, err
		}
		set := n.setFor(pfx).Name
		// The prefix is one element exactly when the interval holding its
		// first address starts there, the interval holding its last
		// address is the same one, and the address after its last is not
		// in that interval.
		s1, exp, in1, err := n.containing(set, pfx.Addr())
		var s2, s3 netip.Addr
		var in2, in3 bool
		if err == nil && in1 {
			s2, _, in2, err = n.containing(set, lastAddr(pfx))
		}
		if next := lastAddr(pfx).Next(); err == nil && in1 && next.IsValid() {
			s3, _, in3, err = n.containing(set, next)
		}
		if err != nil {
			return Observation{}, fmt.Errorf("nftables: couldn't read %s from set %s: %w", c.Element, set, err)
		}
		first := pfx.Addr()
		switch {
		case !in1:
			o.Detail = "not in kernel set " + set
		case s1 != first:
			o.Detail = fmt.Sprintf("kernel set %s: %s is inside an interval starting at %s, not this element", set, first, s1)
		case !in2 || s2 != first:
			o.Detail = fmt.Sprintf("kernel set %s: an interval starts at %s but ends before %s", set, first, lastAddr(pfx))
		case in3 && s3 == first:
			o.Detail = fmt.Sprintf("kernel set %s: the interval starting at %s extends beyond %s", set, first, lastAddr(pfx))
		default:
			o.Present, o.Detail = true, "in kernel set "+set
			if exp > 0 {
				o.Detail += fmt.Sprintf(", expires in %s", exp.Round(time.Second))
			}
		}
		obs.Elements = append(obs.Elements, o)
	}
	obs.judge(present)
	return obs, nil
}

// isolated reads the isolation chains: on when isolate_in ends in a drop.
func (n *NFTables) isolated() (bool, string, error) {
	if n.cfg.Isolation == nil {
		return false, "", fmt.Errorf("%w: isolation is not configured", ErrUnsupported)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	var parts []string
	on := true
	for _, name := range []string{chainIsoIn, chainIsoOt, chainIsoFw} {
		rules, err := n.conn.GetRules(n.table, n.chain[name])
		if err != nil {
			return false, "", fmt.Errorf("nftables: couldn't read chain %s: %w", name, err)
		}
		ends := false
		if len(rules) > 0 {
			ex := rules[len(rules)-1].Exprs
			if v, ok := ex[len(ex)-1].(*expr.Verdict); ok && v.Kind == expr.VerdictDrop && len(ex) == 1 {
				ends = true
			}
		}
		on = on && ends
		parts = append(parts, fmt.Sprintf("%s: %d rules%s", name, len(rules), map[bool]string{true: " ending in drop", false: ""}[ends]))
	}
	var mg []string
	for _, name := range []string{setMgmt4, setMgmt6} {
		els, err := n.conn.GetSetElements(n.sets[name])
		if err != nil {
			return false, "", fmt.Errorf("nftables: couldn't read set %s: %w", name, err)
		}
		for _, iv := range Intervals(els) {
			mg = append(mg, iv.String())
		}
	}
	slices.Sort(mg)
	parts = append(parts, "management: "+strings.Join(mg, ", "))
	return on, strings.Join(parts, "; "), nil
}

var _ Lister = (*NFTables)(nil)

// Elements lists every blocked interval in the kernel, and "isolate" when
// the isolation chains are filled: what reconciliation compares with the
// log.
func (n *NFTables) Elements(ctx context.Context) ([]string, error) {
	ivs, err := n.Blocked()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, iv := range ivs {
		out = append(out, iv.String())
	}
	if n.cfg.Isolation != nil {
		on, _, err := n.isolated()
		if err != nil {
			return nil, err
		}
		if on {
			out = append(out, isolateElement)
		}
	}
	return out, nil
}

package contain

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vallum/vallum/internal/atomicfile"
	"github.com/vallum/vallum/internal/perimeter"
)

// RPZConfig configures a DNS sinkhole: a response policy zone file that
// resolvers we operate load (Unbound "rpz:" with "zonefile:", BIND
// "response-policy", Knot Resolver "policy.rpz").
type RPZConfig struct {
	// Device is the connector's name: a device of kind resolver in the
	// perimeter file. Actions name it in params.resolver.
	Device string `yaml:"device"`
	// Zone is the zone's origin, for example "rpz.vallum.".
	Zone string `yaml:"zone"`
	// File is the zone file Vallum owns and rewrites atomically.
	File string `yaml:"file"`
	// CNAME answers a sinkholed name with this name (for example
	// "sinkhole.acme.example."); "." makes it NXDOMAIN. Exclusive with
	// Addresses.
	CNAME string `yaml:"cname"`
	// Addresses answers a sinkholed name with these A/AAAA addresses.
	Addresses []string `yaml:"addresses"`
	// Reload is the command run after each write, as an argv without a
	// shell (for example ["unbound-control", "auth_zone_reload",
	// "rpz.vallum."] or ["rndc", "reload", "rpz.vallum"]); empty: none.
	Reload []string `yaml:"reload"`
	// ReloadTimeout bounds the reload command. Default 10s.
	ReloadTimeout time.Duration `yaml:"reload_timeout"`
	// Resolver is the host:port of the resolver to query when verifying;
	// empty: Verify reads the zone file back only.
	Resolver string `yaml:"resolver"`
	// TTL of the policy records, in seconds. Default 60.
	TTL int `yaml:"ttl"`
}

// RPZ is the DNS sinkhole connector. It is safe for concurrent use: mu
// serialises the zone's read-modify-write.
type RPZ struct {
	cfg   RPZConfig
	addrs []netip.Addr
	mu    sync.Mutex
}

var (
	_ Connector = (*RPZ)(nil)
	_ Lister    = (*RPZ)(nil)
)

// NewRPZ checks cfg and creates an empty zone file if there is none.
func NewRPZ(cfg RPZConfig) (*RPZ, error) {
	if cfg.Device == "" || cfg.File == "" {
		return nil, errors.New("rpz: device and file are required")
	}
	z, err := perimeter.NormalizeHost(cfg.Zone)
	if err != nil {
		return nil, fmt.Errorf("rpz: zone: %w", err)
	}
	cfg.Zone = z + "."
	if (cfg.CNAME == "") == (len(cfg.Addresses) == 0) {
		return nil, errors.New("rpz: set exactly one of cname and addresses")
	}
	r := &RPZ{cfg: cfg}
	if cfg.CNAME != "" && cfg.CNAME != "." {
		h, err := perimeter.NormalizeHost(cfg.CNAME)
		if err != nil {
			return nil, fmt.Errorf("rpz: cname: %w", err)
		}
		r.cfg.CNAME = h + "."
	}
	for i, s := range cfg.Addresses {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("rpz: addresses[%d]: %q is not an IP address", i, s)
		}
		r.addrs = append(r.addrs, a.Unmap())
	}
	if r.cfg.ReloadTimeout <= 0 {
		r.cfg.ReloadTimeout = 10 * time.Second
	}
	if r.cfg.TTL <= 0 {
		r.cfg.TTL = 60
	}
	if _, err := os.Stat(cfg.File); errors.Is(err, os.ErrNotExist) {
		if err := r.write(Zone{Serial: 1}); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("rpz: %w", err)
	}
	if _, err := r.read(); err != nil {
		return nil, err
	}
	return r, nil
}

// Name returns the device name.
func (r *RPZ) Name() string { return r.cfg.Device }

// Type returns "rpz".
func (r *RPZ) Type() string { return "rpz" }

// Kinds returns dns_sinkhole.
func (r *RPZ) Kinds() []string { return []string{"dns_sinkhole"} }

// Zone is the content of Vallum's RPZ zone: its serial and, for each
// sinkholed name, the action that put it there.
type Zone struct {
	Serial uint32
	// Names maps a sinkholed name (normalised, no trailing dot) to its
	// action ID.
	Names map[string]string
}

// ParseZone reads a zone file written by Vallum. It accepts only what
// Vallum writes ($TTL, the SOA and NS of the apex, and per name a record
// pair "name" and "*.name" with a "; ACT-…" comment) and errors on
// anything else, naming the line.
func ParseZone(b []byte, origin string) (Zone, error) {
	z := Zone{Names: map[string]string{}}
	suffix := "." + strings.TrimSuffix(origin, ".")
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 4096)
	line := 0
	soa := false
	for sc.Scan() {
		line++
		text := sc.Text()
		body, comment, _ := strings.Cut(text, ";")
		f := strings.Fields(body)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "$TTL" || f[0] == "$ORIGIN":
			continue
		case f[0] == "@" && len(f) >= 4 && f[2] == "SOA":
			if len(f) < 6 {
				return Zone{}, fmt.Errorf("line %d: SOA without a serial", line)
			}
			s, err := strconv.ParseUint(strings.Trim(f[5], "()"), 10, 32)
			if err != nil {
				return Zone{}, fmt.Errorf("line %d: SOA serial %q: %v", line, f[5], err)
			}
			z.Serial, soa = uint32(s), true
			continue
		case f[0] == "@":
			continue // NS of the apex
		}
		if len(f) < 4 {
			return Zone{}, fmt.Errorf("line %d: not a record Vallum writes: %q", line, text)
		}
		owner := strings.TrimSuffix(strings.TrimSuffix(f[0], "."), suffix)
		owner = strings.TrimPrefix(owner, "*.")
		name, err := perimeter.NormalizeHost(owner)
		if err != nil {
			return Zone{}, fmt.Errorf("line %d: %v", line, err)
		}
		act := strings.TrimSpace(comment)
		if !strings.HasPrefix(act, "ACT-") || strings.ContainsAny(act, " \t") {
			return Zone{}, fmt.Errorf("line %d: record of %s without its action comment", line, name)
		}
		z.Names[name] = act
	}
	if err := sc.Err(); err != nil {
		return Zone{}, fmt.Errorf("zone: %w", err)
	}
	if !soa {
		return Zone{}, errors.New("zone: no SOA record")
	}
	return z, nil
}

// render writes the zone in Vallum's canonical form, names sorted.
func (r *RPZ) render(z Zone) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "; Response policy zone written by Vallum: do not edit, changes are overwritten.\n")
	fmt.Fprintf(&b, "$TTL %d\n", r.cfg.TTL)
	fmt.Fprintf(&b, "@ IN SOA localhost. hostmaster.localhost. %d 3600 600 86400 %d\n", z.Serial, r.cfg.TTL)
	fmt.Fprintf(&b, "@ IN NS localhost.\n")
	names := make([]string, 0, len(z.Names))
	for n := range z.Names {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		for _, owner := range []string{n, "*." + n} {
			for _, rr := range r.records() {
				fmt.Fprintf(&b, "%s.%s %s ; %s\n", owner, r.cfg.Zone, rr, z.Names[n])
			}
		}
	}
	return b.Bytes()
}

// records are the policy records of a sinkholed name.
func (r *RPZ) records() []string {
	if r.cfg.CNAME != "" {
		return []string{"IN CNAME " + r.cfg.CNAME}
	}
	var out []string
	for _, a := range r.addrs {
		t := "A"
		if a.Is6() {
			t = "AAAA"
		}
		out = append(out, fmt.Sprintf("IN %s %s", t, a))
	}
	return out
}

func (r *RPZ) read() (Zone, error) {
	b, err := os.ReadFile(r.cfg.File)
	if err != nil {
		return Zone{}, fmt.Errorf("rpz: %w", err)
	}
	z, err := ParseZone(b, r.cfg.Zone)
	if err != nil {
		return Zone{}, fmt.Errorf("rpz: %s: %w", r.cfg.File, err)
	}
	return z, nil
}

// write replaces the zone file atomically: a temporary file in the same
// directory, fsync, rename, fsync of the directory.
func (r *RPZ) write(z Zone) error {
	if err := atomicfile.WriteFile(r.cfg.File, r.render(z), 0o644); err != nil {
		return fmt.Errorf("rpz: %w", err)
	}
	return nil
}

// Plan describes the records added for the name and its subdomains.
func (r *RPZ) Plan(ctx context.Context, s Spec) (Plan, error) {
	if s.Kind != "dns_sinkhole" {
		return Plan{}, fmt.Errorf("%w: rpz does not carry out %s", ErrUnsupported, s.Kind)
	}
	name, err := perimeter.NormalizeHost(s.Target)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: dns_sinkhole needs a DNS name: %v", ErrUnsupported, err)
	}
	p := Plan{Action: s.Action, Connector: r.Type(), Device: r.cfg.Device, Kind: s.Kind, Target: s.Target, Expires: s.Expires,
		Changes: []Change{{Op: "add", Element: name, Where: r.cfg.File + " (zone " + r.cfg.Zone + ")",
			Detail: fmt.Sprintf("%s and *.%s answered %s; SOA serial bumped", name, name, strings.Join(r.records(), ", "))}}}
	if len(r.cfg.Reload) > 0 {
		p.Notes = append(p.Notes, "reload: "+strings.Join(r.cfg.Reload, " "))
	}
	if !s.Expires.IsZero() {
		p.Notes = append(p.Notes, "the expiry scheduler removes the records at "+s.Expires.UTC().Format(time.RFC3339))
	}
	return p, nil
}

// Apply adds the plan's names, bumps the serial, writes the zone and runs
// the reload command. A name already sinkholed keeps its records.
func (r *RPZ) Apply(ctx context.Context, p Plan) (Report, error) { return r.change(ctx, p, false) }

// Revert removes the plan's names.
func (r *RPZ) Revert(ctx context.Context, p Plan) (Report, error) { return r.change(ctx, p, true) }

func (r *RPZ) change(ctx context.Context, p Plan, del bool) (Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	z, err := r.read()
	if err != nil {
		return Report{}, err
	}
	var rep Report
	for _, c := range p.Changes {
		name, err := perimeter.NormalizeHost(c.Element)
		if err != nil {
			rep.Outcomes = append(rep.Outcomes, Outcome{Element: c.Element, Error: err.Error()})
			continue
		}
		if del {
			delete(z.Names, name)
		} else if _, ok := z.Names[name]; !ok {
			z.Names[name] = p.Action
		}
		rep.Outcomes = append(rep.Outcomes, Outcome{Element: name, OK: true})
	}
	z.Serial++
	if err := r.write(z); err != nil {
		for i := range rep.Outcomes {
			rep.Outcomes[i].OK, rep.Outcomes[i].Error = false, err.Error()
		}
		return rep, nil
	}
	rep.Detail = fmt.Sprintf("serial %d", z.Serial)
	if len(r.cfg.Reload) > 0 {
		out, err := r.reload(ctx)
		if err != nil {
			rep.Detail += "; reload failed: " + err.Error()
			for i := range rep.Outcomes {
				if rep.Outcomes[i].OK {
					rep.Outcomes[i].OK, rep.Outcomes[i].Error = false, "written, but the reload failed: "+err.Error()
				}
			}
			return rep, nil
		}
		rep.Detail += "; reloaded: " + out
	}
	return rep, nil
}

// reload runs the reload command without a shell, with a timeout.
func (r *RPZ) reload(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ReloadTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.cfg.Reload[0], r.cfg.Reload[1:]...)
	out, err := cmd.CombinedOutput()
	s := strings.TrimSpace(string(out))
	if len(s) > 512 {
		s = s[:512] + "…"
	}
	if err != nil {
		return s, fmt.Errorf("%s: %v: %s", r.cfg.Reload[0], err, s)
	}
	return s, nil
}

// Elements lists the sinkholed names in the zone file.
func (r *RPZ) Elements(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	z, err := r.read()
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(z.Names))
	for n := range z.Names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// Verify reads the zone back and, when a resolver is configured, asks it
// for each name and records the answer: present means the answer is the
// sinkhole, absent that it is not.
func (r *RPZ) Verify(ctx context.Context, p Plan, present bool) (Observation, error) {
	r.mu.Lock()
	z, err := r.read()
	r.mu.Unlock()
	if err != nil {
		return Observation{}, err
	}
	obs := Observation{At: time.Now().UTC(), Want: want(present), OK: true}
	for _, c := range p.Changes {
		name, _ := perimeter.NormalizeHost(c.Element)
		_, inZone := z.Names[name]
		o := Observed{Element: c.Element, Present: inZone, Detail: fmt.Sprintf("zone serial %d: %s", z.Serial, map[bool]string{true: "in the zone", false: "not in the zone"}[inZone])}
		if r.cfg.Resolver != "" {
			// What the resolver answers is what users get: it decides.
			sunk, ans := r.query(ctx, name)
			o.Present = sunk
			o.Detail += "; resolver " + r.cfg.Resolver + " answered " + ans
		}
		obs.Elements = append(obs.Elements, o)
	}
	obs.judge(present)
	return obs, nil
}

// query asks the configured resolver for name and reports whether the
// answer is the sinkhole, with the answer as text.
func (r *RPZ) query(ctx context.Context, name string) (bool, string) {
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, r.cfg.Resolver)
	}}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if r.cfg.CNAME != "" {
		cname, err := res.LookupCNAME(ctx, name)
		if err != nil {
			if r.cfg.CNAME == "." && isNXDomain(err) {
				return true, "NXDOMAIN"
			}
			return false, "error: " + err.Error()
		}
		return strings.EqualFold(cname, r.cfg.CNAME), "CNAME " + cname
	}
	addrs, err := res.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return false, "error: " + err.Error()
	}
	var s []string
	sunk := len(addrs) > 0
	for _, a := range addrs {
		a = a.Unmap()
		s = append(s, a.String())
		if !slices.Contains(r.addrs, a) {
			sunk = false
		}
	}
	return sunk, strings.Join(s, ", ")
}

func isNXDomain(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

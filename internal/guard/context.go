package guard

import (
	"slices"
	"sync"
	"sync/atomic"

	cedar "github.com/cedar-policy/cedar-go"
)

// context is what the rules read (schema.cedarschema's Facts), before it
// becomes a Cedar record.
type context struct {
	kindKnown      bool
	targetType     string
	inPerimeter    bool
	owner          string
	collateral     []string
	protected      bool
	presentDanger  bool
	deviceKind     string
	resolverKind   string
	egress         string
	codeExecution  string
	validOn        string
	approvals      []string
	notified       []string
	sanctions      string
	sanctionsFresh bool
	legalReview    bool
}

func (c *context) record() cedar.Record {
	return cedar.NewRecord(cedar.RecordMap{
		"kind_known":      cedar.Boolean(c.kindKnown),
		"target_type":     cedar.String(c.targetType),
		"in_perimeter":    cedar.Boolean(c.inPerimeter),
		"owner":           cedar.String(c.owner),
		"collateral":      stringSet(c.collateral),
		"protected":       cedar.Boolean(c.protected),
		"present_danger":  cedar.Boolean(c.presentDanger),
		"device_kind":     cedar.String(c.deviceKind),
		"resolver_kind":   cedar.String(c.resolverKind),
		"egress":          cedar.String(c.egress),
		"code_execution":  cedar.String(c.codeExecution),
		"valid_on":        cedar.String(c.validOn),
		"approvals":       stringSet(c.approvals),
		"notified":        stringSet(c.notified),
		"sanctions":       cedar.String(c.sanctions),
		"sanctions_fresh": cedar.Boolean(c.sanctionsFresh),
		"legal_review":    cedar.Boolean(c.legalReview),
	})
}

func stringSet(ss []string) cedar.Set {
	vs := make([]cedar.Value, len(ss))
	for i, s := range ss {
		vs[i] = cedar.String(s)
	}
	return cedar.NewSet(vs...)
}

// The closed vocabularies of the context, for its compact key. Their order
// is part of the key: append only.
var (
	keyTargetTypes = []string{"none", "address", "prefix", "asset", "account", "wallet", "hostname", "invalid"}
	keyOwners      = []string{"self", "contract", "third_party", "unknown"}
	keyCollateral  = []string{"health", "public_interest", "critical_infra", "shared_hosting", "cdn", "tor_exit"}
	keyDevices     = []string{"none", "unknown", "firewall", "resolver", "edr", "honeypot_host"}
	keyTri         = [][]string{{"unstated", "contained", "open"}, {"unstated", "yes", "no"}, {"unstated", "own", "third_party"}}
	keySanctions   = []string{"missing", "clear", "hit", "none"}
)

// key packs the context into 64 bits, or returns false when a value is
// outside the closed vocabularies (a Request built without DecodeRequest).
func (c *context) key() (uint64, bool) {
	var k uint64
	ok := true
	put := func(v uint64, bits uint) { k = k<<bits | v }
	enum := func(vocab []string, s string, bits uint) {
		i := slices.Index(vocab, s)
		if i < 0 {
			ok = false
		}
		put(uint64(max(i, 0)), bits)
	}
	mask := func(vocab []string, ss []string) {
		var m uint64
		for _, s := range ss {
			i := slices.Index(vocab, s)
			if i < 0 {
				ok = false
			}
			m |= 1 << max(i, 0)
		}
		put(m, uint(len(vocab)))
	}
	flag := func(b bool) {
		if b {
			put(1, 1)
		} else {
			put(0, 1)
		}
	}
	flag(c.kindKnown)
	flag(c.inPerimeter)
	flag(c.protected)
	flag(c.presentDanger)
	flag(c.sanctionsFresh)
	flag(c.legalReview)
	enum(keyTargetTypes, c.targetType, 3)
	enum(keyOwners, c.owner, 2)
	enum(keyDevices, c.deviceKind, 3)
	enum(keyDevices, c.resolverKind, 3)
	enum(keyTri[0], c.egress, 2)
	enum(keyTri[1], c.codeExecution, 2)
	enum(keyTri[2], c.validOn, 2)
	enum(keySanctions, c.sanctions, 2)
	mask(keyCollateral, c.collateral) // 6 bits
	mask(roles, c.approvals)          // 8 bits
	mask(authorities, c.notified)     // 9 bits: 51 bits in all
	return k, ok
}

// recordCache keeps the Cedar records of contexts already seen: building a
// record is the most expensive step of a decision (cedar-go hashes it
// eagerly), and a deployment sees few distinct contexts. Records are
// immutable, so they are shared. The cache stops growing at maxRecords.
type recordCache struct {
	m sync.Map // uint64 → cedar.Record
	n atomic.Int64
}

const maxRecords = 1 << 14

func (rc *recordCache) get(c context) cedar.Record {
	k, ok := c.key()
	if !ok {
		return c.record()
	}
	if r, hit := rc.m.Load(k); hit {
		return r.(cedar.Record)
	}
	r := c.record()
	if rc.n.Load() < maxRecords {
		if _, loaded := rc.m.LoadOrStore(k, r); !loaded {
			rc.n.Add(1)
		}
	}
	return r
}

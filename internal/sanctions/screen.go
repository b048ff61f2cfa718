package sanctions

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Matching methods and defaults, as recorded in [Method].
const (
	// WalletMatch describes how wallets are compared.
	WalletMatch = "exact match after per-chain normalisation"
	// NameAlgorithm names the name similarity.
	NameAlgorithm = "jaro-winkler on sorted normalised tokens"
	// Transliteration says what name normalisation does with scripts.
	Transliteration = "lower case; common Latin diacritics folded by table; other scripts compared as written, not transliterated"
	// DefaultThreshold is the name similarity at or above which a name is a
	// possible match.
	DefaultThreshold = 0.90
)

// NoHitIsNotPermission is written into every Screening.
const NoHitIsNotPermission = "No hit is not permission to pay or negotiate: the lists lag behind designations and do not name unlisted affiliates, mixers, exchanges or cash-out services. Record residual risk and rescreen before any payment."

// Result is the outcome of a screening.
type Result string

const (
	// Clear: no listed wallet and no listed name at or above the threshold.
	// It is not permission to pay.
	Clear Result = "clear"
	// Hit: a wallet matched exactly, or a name matched exactly after
	// normalisation.
	Hit Result = "hit"
	// PossibleMatch: a name matched at or above the threshold but not
	// exactly; a reviewer must record a disposition before it is cleared.
	PossibleMatch Result = "possible_match"
)

// Subject is one identifier of the counterpart submitted for screening.
type Subject struct {
	// Kind is "wallet" or "name" (group names, aliases, personas, leak-site
	// names, emails and onion URLs are screened as names).
	Kind string `json:"kind"`
	// Value is the identifier as the counterpart gave it.
	Value string `json:"value"`
	// Chain is the asset code for a wallet (XBT, ETH, …).
	Chain string `json:"chain,omitempty"`
	// Normalised is the form that was compared; filled by Screen.
	Normalised string `json:"normalised,omitempty"`
	// Source links the identifier to where it came from in the case (a
	// message ID or an evidence hash).
	Source string `json:"source,omitempty"`
}

// Request asks for a screening.
type Request struct {
	// Subjects are the identifiers to screen; at least one.
	Subjects []Subject
	// By is the authenticated actor who ran the screening.
	By string
	// At is when the screening ran (UTC is recorded).
	At time.Time
	// Threshold is the name similarity for a possible match; zero means
	// DefaultThreshold.
	Threshold float64
}

// Method records how the comparison was made.
type Method struct {
	Wallets         string  `json:"wallets"`
	NameAlgorithm   string  `json:"name_algorithm"`
	NameThreshold   float64 `json:"name_threshold"`
	Transliteration string  `json:"transliteration"`
}

// Match is one hit or possible match.
type Match struct {
	// Subject is the index of the matched subject in Screening.Subjects.
	Subject int `json:"subject"`
	// Result is hit or possible_match.
	Result Result `json:"result"`
	// List is the source of the list, ListSHA256 its digest.
	List       string `json:"list"`
	ListSHA256 string `json:"list_sha256"`
	// EntryID and Reference are the list-native identifiers.
	EntryID   string   `json:"entry_id"`
	Reference string   `json:"reference,omitempty"`
	EntryName string   `json:"entry_name"`
	Programs  []string `json:"programs,omitempty"`
	// Feature is what matched: "wallet", "name" or "alias".
	Feature string `json:"feature"`
	// Matched is the listed value that matched (the address or the name
	// exactly as listed), Chain its asset code for a wallet.
	Matched string `json:"matched"`
	Chain   string `json:"chain,omitempty"`
	// Score is the name similarity (1 for wallets).
	Score float64 `json:"score"`
}

// Screening is the record of one screening, for the evidence log (LEGAL.md
// §4.3): what was screened, against which lists with their provenance, when,
// by whom, by which method and threshold, every hit, and the result.
//
// A Clear result never means permission to pay or negotiate; Notes say so in
// every record, with the known gaps of the lists used. Dispositions of
// possible matches, the decision that used the screening and the authority
// contacts are recorded by the caller alongside it.
type Screening struct {
	ScreenedAt time.Time    `json:"screened_at"`
	By         string       `json:"by"`
	Subjects   []Subject    `json:"subjects"`
	Lists      []Provenance `json:"lists"`
	Method     Method       `json:"method"`
	Matches    []Match      `json:"matches"`
	Result     Result       `json:"result"`
	Notes      []string     `json:"notes"`
}

// ErrRequest is returned (wrapped) for an incomplete screening request.
var ErrRequest = errors.New("invalid screening request")

// nameRef is one listed name in the screener's index.
type nameRef struct {
	list, entry int
	alias       bool
	listed      string
	norm        string
	runes       []rune
}

// walletRef is one listed wallet in the screener's index.
type walletRef struct {
	list, entry int
	wallet      Wallet
	key         string
}

// Screener screens subjects against a fixed set of lists. It is immutable
// once built and safe for concurrent use.
type Screener struct {
	lists   []*List
	wallets map[string][]walletRef
	names   []nameRef
}

// NewScreener indexes lists for screening.
func NewScreener(lists ...*List) *Screener {
	s := &Screener{lists: lists, wallets: map[string][]walletRef{}}
	for li, l := range lists {
		for ei, e := range l.Entries {
			for _, w := range e.Wallets {
				key := NormaliseAddress(w.Chain, w.Address)
				s.wallets[key] = append(s.wallets[key], walletRef{list: li, entry: ei, wallet: w, key: key})
			}
			names := append([]string{e.Name}, e.Aliases...)
			for i, n := range names {
				norm := NormaliseName(n)
				if norm == "" {
					continue
				}
				s.names = append(s.names, nameRef{list: li, entry: ei, alias: i > 0, listed: n, norm: norm, runes: []rune(norm)})
			}
		}
	}
	return s
}

// Screen screens every subject of req against the lists and returns the
// record. It fails only on an incomplete request.
func (s *Screener) Screen(req Request) (*Screening, error) {
	if strings.TrimSpace(req.By) == "" {
		return nil, fmt.Errorf("%w: who screens is missing", ErrRequest)
	}
	if req.At.IsZero() {
		return nil, fmt.Errorf("%w: the screening time is missing", ErrRequest)
	}
	if len(req.Subjects) == 0 {
		return nil, fmt.Errorf("%w: nothing to screen", ErrRequest)
	}
	if len(s.lists) == 0 {
		return nil, fmt.Errorf("%w: no lists to screen against", ErrRequest)
	}
	th := req.Threshold
	if th == 0 {
		th = DefaultThreshold
	}
	if th <= 0 || th > 1 {
		return nil, fmt.Errorf("%w: threshold %v is not in (0, 1]", ErrRequest, th)
	}
	sc := &Screening{
		ScreenedAt: req.At.UTC(),
		By:         req.By,
		Method:     Method{Wallets: WalletMatch, NameAlgorithm: NameAlgorithm, NameThreshold: th, Transliteration: Transliteration},
		Matches:    []Match{},
		Result:     Clear,
		Notes:      []string{NoHitIsNotPermission},
	}
	for _, l := range s.lists {
		sc.Lists = append(sc.Lists, l.Provenance)
		if !slices.ContainsFunc(l.Entries, func(e Entry) bool { return len(e.Wallets) > 0 }) {
			sc.Notes = append(sc.Notes, fmt.Sprintf("The %s list (%s) carries no wallet addresses: wallets were screened against it only as far as its names go.", l.Provenance.Source, l.Provenance.Format))
		}
	}
	for i, sub := range req.Subjects {
		switch sub.Kind {
		case "wallet":
			if strings.TrimSpace(sub.Value) == "" {
				return nil, fmt.Errorf("%w: subject %d: empty wallet", ErrRequest, i)
			}
			sub.Chain = NormaliseChain(sub.Chain)
			sub.Normalised = NormaliseAddress(sub.Chain, sub.Value)
			sc.Matches = append(sc.Matches, s.screenWallet(i, sub.Value)...)
		case "name":
			sub.Normalised = NormaliseName(sub.Value)
			if sub.Normalised == "" {
				return nil, fmt.Errorf("%w: subject %d: the name has no letters or digits", ErrRequest, i)
			}
			sc.Matches = append(sc.Matches, s.screenName(i, sub.Normalised, th)...)
		default:
			return nil, fmt.Errorf("%w: subject %d: kind %q is not wallet or name", ErrRequest, i, sub.Kind)
		}
		sc.Subjects = append(sc.Subjects, sub)
	}
	for _, m := range sc.Matches {
		if m.Result == Hit {
			sc.Result = Hit
			break
		}
		sc.Result = PossibleMatch
	}
	return sc, nil
}

// screenWallet finds every listed wallet equal to addr once both are
// normalised under the listed wallet's chain. The chain the counterpart
// named does not restrict the search: the same address listed under
// another asset code (an ETH address listed for USDT) is the same wallet.
func (s *Screener) screenWallet(subject int, addr string) []Match {
	var out []Match
	seen := map[*walletRef]bool{}
	for _, k := range addressKeys(addr) {
		refs := s.wallets[k]
		for i := range refs {
			r := &refs[i]
			if seen[r] || NormaliseAddress(r.wallet.Chain, addr) != r.key {
				continue
			}
			seen[r] = true
			out = append(out, s.match(subject, Hit, r.list, r.entry, "wallet", r.wallet.Address, r.wallet.Chain, 1))
		}
	}
	return out
}

// screenName finds every listed name or alias whose similarity to norm is at
// least th: equal normalised names are hits, the others possible matches.
// One match per entry is reported, the best.
func (s *Screener) screenName(subject int, norm string, th float64) []Match {
	q := []rune(norm)
	type best struct {
		ref   *nameRef
		score float64
	}
	bestOf := map[[2]int]best{}
	var order [][2]int
	for i := range s.names {
		r := &s.names[i]
		score := 1.0
		if r.norm != norm {
			score = jaroWinkler(q, r.runes)
		}
		if score < th {
			continue
		}
		k := [2]int{r.list, r.entry}
		b, ok := bestOf[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || score > b.score {
			bestOf[k] = best{r, score}
		}
	}
	var out []Match
	for _, k := range order {
		b := bestOf[k]
		res, feature := PossibleMatch, "name"
		if b.score == 1 {
			res = Hit
		}
		if b.ref.alias {
			feature = "alias"
		}
		out = append(out, s.match(subject, res, k[0], k[1], feature, b.ref.listed, "", b.score))
	}
	return out
}

func (s *Screener) match(subject int, res Result, li, ei int, feature, matched, chain string, score float64) Match {
	l, e := s.lists[li], &s.lists[li].Entries[ei]
	return Match{
		Subject: subject, Result: res,
		List: l.Provenance.Source, ListSHA256: l.Provenance.SHA256,
		EntryID: e.ID, Reference: e.Reference, EntryName: e.Name, Programs: e.Programs,
		Feature: feature, Matched: matched, Chain: chain, Score: score,
	}
}

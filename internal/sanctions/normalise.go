package sanctions

import (
	"slices"
	"strings"
	"unicode"
)

// evmChains are the asset codes whose addresses are 20-byte hex (EIP-55
// mixed case is a checksum, not part of the address).
var evmChains = map[string]bool{"ETH": true, "ETC": true, "ARB": true, "BSC": true, "USDC": true, "USDT": true}

// bech32Prefixes are the human-readable parts of bech32 addresses (case
// insensitive) per asset code; addresses of these chains in other forms are
// base58 and case sensitive.
var bech32Prefixes = map[string][]string{
	"XBT": {"bc1", "tb1", "bcrt1"},
	"LTC": {"ltc1", "tltc1"},
	"BTG": {"btg1"},
	"ZEC": {"zs1"},
}

// NormaliseChain maps an asset code to the form the lists use: upper case,
// trimmed, with BTC written XBT as OFAC does.
func NormaliseChain(chain string) string {
	c := strings.ToUpper(strings.TrimSpace(chain))
	if c == "BTC" {
		return "XBT"
	}
	return c
}

// NormaliseAddress returns the canonical form of addr on chain, the form
// screening compares exactly:
//   - a 0x-prefixed 40-digit hex address (any chain) is lower-cased; on an
//     EVM chain (ETH, ETC, ARB, BSC, USDC, USDT) 40 hex digits without the
//     prefix gain "0x";
//   - bech32 addresses of XBT (bc1, tb1), LTC (ltc1), BTG and ZEC (zs1) are
//     lower-cased; BCH CashAddr loses its "bitcoincash:" prefix and is
//     lower-cased;
//   - everything else (base58 and unknown chains) is only trimmed, because
//     its case is significant.
func NormaliseAddress(chain, addr string) string {
	a := strings.TrimSpace(addr)
	c := NormaliseChain(chain)
	lower := strings.ToLower(a)
	if h, ok := strings.CutPrefix(lower, "0x"); ok && isHex(h, 40) {
		return lower
	}
	if evmChains[c] && isHex(lower, 40) {
		return "0x" + lower
	}
	if c == "BCH" {
		if rest, ok := strings.CutPrefix(lower, "bitcoincash:"); ok {
			return rest
		}
		if strings.HasPrefix(lower, "q") || strings.HasPrefix(lower, "p") {
			return lower
		}
	}
	for _, p := range bech32Prefixes[c] {
		if strings.HasPrefix(lower, p) {
			return lower
		}
	}
	return a
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// addressKeys returns every form addr could take under some chain's
// normalisation, so one lookup per key finds it whatever chain it is
// listed under.
func addressKeys(addr string) []string {
	a := strings.TrimSpace(addr)
	lower := strings.ToLower(a)
	keys := []string{a, lower}
	if isHex(lower, 40) {
		keys = append(keys, "0x"+lower)
	}
	if rest, ok := strings.CutPrefix(lower, "bitcoincash:"); ok {
		keys = append(keys, rest)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// latinFold maps the common Latin letters with diacritics, and a few
// ligatures, to ASCII. Letters outside it (other scripts, rarer marks) are
// compared as they are: the standard library has no Unicode decomposition
// and the module does not depend on golang.org/x/text directly.
var latinFold = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ā': "a", 'ă': "a", 'ą': "a",
	'æ': "ae", 'ç': "c", 'ć': "c", 'č': "c", 'ĉ': "c", 'ċ': "c", 'ď': "d", 'đ': "d", 'ð': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ğ': "g", 'ģ': "g", 'ĥ': "h", 'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ī': "i", 'į': "i", 'ı': "i",
	'ķ': "k", 'ĺ': "l", 'ļ': "l", 'ľ': "l", 'ł': "l", 'ñ': "n", 'ń': "n", 'ņ': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ō': "o", 'ő': "o", 'œ': "oe",
	'ŕ': "r", 'ř': "r", 'ś': "s", 'ş': "s", 'š': "s", 'ș': "s", 'ß': "ss", 'ţ': "t", 'ť': "t", 'ț': "t", 'þ': "th",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ū': "u", 'ů': "u", 'ű': "u", 'ų': "u",
	'ý': "y", 'ÿ': "y", 'ź': "z", 'ż': "z", 'ž': "z",
}

// NormaliseName returns the form names are compared in: lower case, common
// Latin diacritics folded, punctuation turned into spaces, and the tokens
// sorted, so that "Ivanov, Ivan" and "IVAN IVANOV" compare equal.
func NormaliseName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case latinFold[r] != "":
			b.WriteString(latinFold[r])
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		case r == '\'' || r == '’':
			// O'Brien and OBrien are one name.
		default:
			b.WriteByte(' ')
		}
	}
	tokens := strings.Fields(b.String())
	slices.Sort(tokens)
	return strings.Join(tokens, " ")
}

// jaroWinkler returns the Jaro-Winkler similarity of a and b in [0, 1]
// (prefix scale 0.1, prefix of at most 4).
func jaroWinkler(a, b []rune) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	window := max(len(a), len(b))/2 - 1
	window = max(window, 0)
	var ma, mb [128]bool
	var bigA, bigB []bool
	matchA, matchB := ma[:0], mb[:0]
	if len(a) <= len(ma) && len(b) <= len(mb) {
		matchA, matchB = ma[:len(a)], mb[:len(b)]
	} else {
		bigA, bigB = make([]bool, len(a)), make([]bool, len(b))
		matchA, matchB = bigA, bigB
	}
	m := 0
	for i := range a {
		lo, hi := max(0, i-window), min(len(b), i+window+1)
		for j := lo; j < hi; j++ {
			if !matchB[j] && a[i] == b[j] {
				matchA[i], matchB[j] = true, true
				m++
				break
			}
		}
	}
	if m == 0 {
		return 0
	}
	t, j := 0, 0
	for i := range a {
		if !matchA[i] {
			continue
		}
		for !matchB[j] {
			j++
		}
		if a[i] != b[j] {
			t++
		}
		j++
	}
	mf := float64(m)
	jaro := (mf/float64(len(a)) + mf/float64(len(b)) + (mf-float64(t)/2)/mf) / 3
	l := 0
	for l < min(4, len(a), len(b)) && a[l] == b[l] {
		l++
	}
	return jaro + float64(l)*0.1*(1-jaro)
}

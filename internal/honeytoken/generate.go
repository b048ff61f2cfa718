package honeytoken

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// minMarker is the shortest part of a token that Match looks for: shorter
// strings would turn up by chance.
const minMarker = 8

const (
	lower    = "abcdefghijklmnopqrstuvwxyz0123456789"
	base62   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	base32   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	base64ch = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	digits   = "0123456789"
)

// Word lists for believable, synthetic values. None is a real person's
// data: names are common given and family names, paired at random with a
// random suffix at our own domain.
var (
	userPrefixes = []string{"svc_backup", "sql_reader", "it.helpdesk", "adm_ops", "deploy_bot", "bk_operator", "sap_batch", "vpn_service"}
	pwWords      = []string{"Autumn", "Winter", "Spring", "Summer", "Milano", "Torino", "Welcome", "Password", "Backup", "Company"}
	firstNames   = []string{"giulia", "marco", "francesca", "luca", "chiara", "alessandro", "sara", "matteo", "elena", "davide", "martina", "andrea", "laura", "simone", "paola", "stefano"}
	lastNames    = []string{"rossi", "ferrari", "russo", "bianchi", "romano", "gallo", "costa", "fontana", "conti", "esposito", "ricci", "bruno", "moretti", "marino", "greco", "lombardi"}
	cities       = []string{"Milano", "Roma", "Torino", "Bologna", "Firenze", "Napoli", "Genova", "Verona", "Padova", "Bari"}
)

// randString returns n characters drawn uniformly from alphabet.
func randString(alphabet string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

func pick(list []string) string { return list[randInt(len(list))] }

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err)
	}
	return int(v.Int64())
}

func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return "HT-" + hex.EncodeToString(b[:])
}

// generate draws a token of req's type; check has validated req.
func generate(req Request) (Token, error) {
	t := Token{Type: req.Type, Fields: map[string]string{}}
	switch req.Type {
	case TypeCredential:
		user := req.Username
		if user == "" {
			user = pick(userPrefixes) + "_" + randString(lower, 4)
		}
		pw := pick(pwWords) + randString(digits, 4) + "!" + randString(base62, 6)
		t.Fields["password"] = pw
		if len(user) >= minMarker {
			t.Fields["username"] = user
		}
		t.Value = user + ":" + pw
	case TypeAPIKey:
		switch req.Format {
		case "", "aws":
			// The shape of an AWS access key pair. It is not a key of any
			// account: it is valid nowhere, and only our sensors and
			// intake watch for it.
			id := "AKIA" + randString(base32, 16)
			secret := randString(base64ch, 40)
			t.Fields["access_key_id"] = id
			t.Fields["secret_access_key"] = secret
			t.Value = "[default]\naws_access_key_id = " + id + "\naws_secret_access_key = " + secret + "\n"
		case "vallum":
			key := "vk_live_" + randString(base62, 32)
			t.Fields["api_key"] = key
			t.Value = key
		default:
			return Token{}, fmt.Errorf("%w: api_key format %q: want aws or vallum", ErrInvalid, req.Format)
		}
	case TypeEmail:
		addr := pick(firstNames) + "." + pick(lastNames) + "." + randString(lower, 4) + "@" + strings.ToLower(req.Domain)
		t.Fields["email"] = addr
		t.Value = addr
	case TypeDBRow:
		first, last := pick(firstNames), pick(lastNames)
		id := "C" + randString(digits, 9)
		email := first + "." + last + "." + randString(lower, 4) + "@" + strings.ToLower(req.Domain)
		name := strings.ToUpper(first[:1]) + first[1:] + " " + strings.ToUpper(last[:1]) + last[1:]
		city := pick(cities)
		since := time.Date(2019+randInt(6), time.Month(1+randInt(12)), 1+randInt(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		t.Fields["customer_id"] = id
		t.Fields["email"] = email
		switch req.Format {
		case "", "sql":
			t.Value = fmt.Sprintf("INSERT INTO customers (id, full_name, email, city, created_at) VALUES ('%s', '%s', '%s', '%s', '%s');", id, name, email, city, since)
		case "csv":
			t.Value = strings.Join([]string{id, name, email, city, since}, ",")
		default:
			return Token{}, fmt.Errorf("%w: db_row format %q: want sql or csv", ErrInvalid, req.Format)
		}
	}
	return t, nil
}

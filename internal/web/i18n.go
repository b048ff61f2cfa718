package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// languages the console speaks.
var languages = []string{"it", "en"}

func supported(l string) bool { return l == "it" || l == "en" }

// language picks the request's language: ?lang= (which is remembered in
// a cookie), then the cookie, then Accept-Language, then the default.
func (c *Console) language(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); supported(l) {
		c.setCookie(w, r, langCookie, l, 365*24*time.Hour)
		return l
	}
	if ck, err := r.Cookie(langCookie); err == nil && supported(ck.Value) {
		return ck.Value
	}
	if l := preferredLanguage(r.Header.Get("Accept-Language")); l != "" {
		return l
	}
	return c.cfg.Language
}

// maxAcceptLanguage bounds the header parsed; the rest is ignored.
const maxAcceptLanguage = 512

// preferredLanguage returns the supported language the Accept-Language
// header ranks highest ("" when it names none). It parses the header's
// comma-separated ranges with optional q-values (RFC 9110 §12.5.4) and
// tolerates garbage: a malformed range is skipped.
func preferredLanguage(header string) string {
	if len(header) > maxAcceptLanguage {
		header = header[:maxAcceptLanguage]
	}
	best, bestQ := "", 0.0
	for i, part := range strings.Split(header, ",") {
		if i >= 32 {
			break
		}
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		primary, _, _ := strings.Cut(tag, "-")
		if !supported(primary) {
			continue
		}
		q := 1.0
		if params != "" {
			k, v, ok := strings.Cut(strings.TrimSpace(params), "=")
			if !ok || strings.TrimSpace(k) != "q" {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 || f != f {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}

// translate returns the message key in lang, formatted with args; an
// unknown key is shown as itself (a test checks every key is in both).
func translate(lang, key string, args ...any) string {
	m, ok := messages[lang][key]
	if !ok {
		m, ok = messages["en"][key]
	}
	if !ok {
		m = key
	}
	if len(args) > 0 {
		return fmt.Sprintf(m, args...)
	}
	return m
}

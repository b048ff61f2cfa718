package config

import (
	"fmt"
	"net/url"
	"time"
)

// Anchor configures RFC 3161 time-stamping of the evidence log's signed
// checkpoints (docs/bundle.md). With no authority nothing is time-stamped.
type Anchor struct {
	// Authorities are the time-stamping authorities; each checkpoint is
	// stamped by every one of them (in production an eIDAS qualified
	// provider, whose stamps carry the art. 41(2) presumption, and a second
	// one in case the first is unreachable).
	Authorities []TSA `yaml:"authorities"`
	// Interval is how often the latest checkpoint is stamped when the log
	// changed since the last stamp. Default 10m with authorities; at least
	// 1m.
	Interval time.Duration `yaml:"interval"`
	// Milestones are the entry kinds that get their checkpoint stamped at
	// once (an action executed, a notification submitted, an erasure, an
	// incident's status changed …). Default: tsa.DefaultMilestones; an empty
	// list ([]) turns milestone stamps off.
	Milestones *[]string `yaml:"milestones"`
}

// TSA is one RFC 3161 time-stamping authority.
type TSA struct {
	// Name identifies the authority in the log and in bundles.
	Name string `yaml:"name"`
	// URL is its RFC 3161 HTTP endpoint (http or https).
	URL string `yaml:"url"`
	// CAFile is a PEM file with the root certificate(s) its TSA
	// certificates chain to: tokens that don't chain to one are refused.
	CAFile string `yaml:"ca_file"`
	// Hash is the imprint hash: sha256 (default), sha384 or sha512.
	Hash string `yaml:"hash"`
	// Username and PasswordFile, if set, are sent with HTTP basic
	// authentication; the password is read from the file (mode 0600), never
	// written in the configuration, and never logged.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	// Timeout bounds one request. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

func (x *Anchor) validate() error {
	if len(x.Authorities) == 0 {
		return nil
	}
	if x.Interval == 0 {
		x.Interval = 10 * time.Minute
	}
	if x.Interval < time.Minute {
		return fmt.Errorf("config: anchor.interval %v must be at least 1m", x.Interval)
	}
	names := map[string]bool{}
	for i := range x.Authorities {
		a := &x.Authorities[i]
		where := fmt.Sprintf("config: anchor.authorities[%d]", i)
		if a.Name == "" {
			return fmt.Errorf("%s: name is required", where)
		}
		if names[a.Name] {
			return fmt.Errorf("%s: name %q is used twice", where, a.Name)
		}
		names[a.Name] = true
		u, err := url.Parse(a.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s (%s): url %q must be an http or https URL", where, a.Name, a.URL)
		}
		if u.User != nil {
			return fmt.Errorf("%s (%s): put credentials in username and password_file, not in the url", where, a.Name)
		}
		if a.CAFile == "" {
			return fmt.Errorf("%s (%s): ca_file is required: without the authority's root its tokens can't be verified", where, a.Name)
		}
		switch a.Hash {
		case "":
			a.Hash = "sha256"
		case "sha256", "sha384", "sha512":
		default:
			return fmt.Errorf("%s (%s): hash %q must be sha256, sha384 or sha512", where, a.Name, a.Hash)
		}
		if a.PasswordFile != "" && a.Username == "" {
			return fmt.Errorf("%s (%s): password_file needs a username", where, a.Name)
		}
		if a.Timeout == 0 {
			a.Timeout = 30 * time.Second
		}
		if a.Timeout < 0 {
			return fmt.Errorf("%s (%s): timeout must be positive", where, a.Name)
		}
	}
	return nil
}

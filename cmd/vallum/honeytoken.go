package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/honeytoken"
)

func runHoneytoken(ctx context.Context, env *cliEnv, args []string) error {
	return runGroup(ctx, env, "honeytoken", args, subcommands{
		"create": runHoneytokenCreate,
		"list":   runHoneytokenList,
		"show":   runHoneytokenShow,
	}, "Usage: vallum honeytoken <create|list|show> [flags]\n\n"+
		"  create --type T --planted WHERE [--note N]  issue a honeytoken; prints the value to plant\n"+
		"  list                                        list honeytokens (values masked unless your role may see them)\n"+
		"  show ID                                     show one honeytoken\n\n"+
		"Types (class A, detected only on our own systems): "+strings.Join(honeytoken.Types, ", ")+".\n"+
		"Tokens that call home from the opener's machine are not offered (DOMAIN.md).\n"+
		"These talk to the running server (--server URL, --data DIR or VALLUM_TOKEN).\n")
}

func runHoneytokenCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "honeytoken create", "honeytoken create --type TYPE --planted WHERE [--note TEXT] [--username U] [--format F] [--domain D] [--json]")
	var req honeytoken.Request
	fs.StringVar(&req.Type, "type", "", "token type: "+strings.Join(honeytoken.Types, ", "))
	fs.StringVar(&req.Planted, "planted", "", `where the token will be planted, e.g. "fileserver:/srv/share/passwords.xlsx"`)
	fs.StringVar(&req.Note, "note", "", "a note kept with the token")
	fs.StringVar(&req.Username, "username", "", "credential: the user name (generated if empty)")
	fs.StringVar(&req.Format, "format", "", "api_key: aws (default) or vallum; db_row: sql (default) or csv")
	fs.StringVar(&req.Domain, "domain", "", "email, db_row: the e-mail domain (one whose mail we read)")
	asJSON := fs.Bool("json", false, "print the server's JSON answer")
	server, data := addClientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if req.Type == "" || req.Planted == "" {
		return &exitError{code: 2, err: withHint(errors.New("--type and --planted are required"),
			`e.g. vallum honeytoken create --type credential --planted "fileserver:/srv/share/passwords.xlsx"`)}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodPost, "/api/v1/honeytokens", body, true)
	if err != nil {
		if strings.Contains(err.Error(), "HTTP 422") {
			return withHint(err, "issue a class A token instead: --type "+strings.Join(honeytoken.Types, "|"))
		}
		return err
	}
	if *asJSON {
		return writeIndented(env.stdout, b)
	}
	var a struct{ Honeytoken honeytoken.Token }
	if err := json.Unmarshal(b, &a); err != nil || a.Honeytoken.ID == "" {
		return fmt.Errorf("couldn't read the server's answer: %s", b)
	}
	t := a.Honeytoken
	fmt.Fprintf(env.stderr, "vallum: honeytoken %s (%s, class %s) logged at entry %d; plant exactly this at %s:\n", t.ID, t.Type, t.Class, t.LogIndex, t.Planted)
	_, err = fmt.Fprintln(env.stdout, strings.TrimSuffix(t.Value, "\n"))
	return err
}

func runHoneytokenList(ctx context.Context, env *cliEnv, args []string) error {
	return runList(ctx, env, "honeytoken list", "/api/v1/honeytokens", args, func(w io.Writer, list struct{ Honeytokens []honeytoken.Token }) {
		fmt.Fprintf(w, "ID\tTYPE\tCREATED\tBY\tPLANTED\tVALUE\n")
		for _, t := range list.Honeytokens {
			v := strings.ReplaceAll(strings.TrimSpace(t.Value), "\n", " ")
			if len(v) > 60 {
				v = v[:57] + "..."
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Type, t.CreatedAt.UTC().Format(time.RFC3339), t.CreatedBy, t.Planted, v)
		}
	})
}

func runHoneytokenShow(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "honeytoken show", "honeytoken show ID [--server URL] [--data DIR]")
	server, data := addClientFlags(fs)
	id, err := oneArg(fs, "honeytoken id", args)
	if err != nil {
		return err
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodGet, "/api/v1/honeytokens/"+url.PathEscape(id), nil, true)
	if err != nil {
		return err
	}
	return writeIndented(env.stdout, b)
}

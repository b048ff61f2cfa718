package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vallum/vallum/internal/api"
)

func runUser(ctx context.Context, env *cliEnv, args []string) error {
	return runGroup(ctx, env, "user", args, subcommands{
		"add":     runUserAdd,
		"list":    runUserList,
		"token":   runUserToken,
		"disable": runUserDisable,
		"revoke":  runUserRevoke,
	}, "Usage: vallum user <add|list|token|disable|revoke> [flags]\n\n"+
		"  add NAME --role R [--role R2]  add a user; prints their first API token once\n"+
		"  list                           list users, roles and tokens (never the tokens themselves)\n"+
		"  token NAME                     issue another API token; prints it once\n"+
		"  disable NAME                   disable a user: all their tokens stop working\n"+
		"  revoke TOKEN_ID                revoke one token\n\n"+
		"These talk to the running server with the admin token (--data DIR or VALLUM_TOKEN).\n"+
		"Roles: "+strings.Join(api.AllRoles(), ", ")+".\n")
}

// subcommands are a command group's subcommands by name.
type subcommands map[string]func(context.Context, *cliEnv, []string) error

// runGroup runs the subcommand args[0] of the command group (e.g.
// "user") from sub. With no arguments, -h or --help it prints help on
// stderr instead (and with no arguments exits 2); an unknown subcommand
// exits 2 with a hint.
func runGroup(ctx context.Context, env *cliEnv, group string, args []string, sub subcommands, help string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.stderr, help)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	f, ok := sub[args[0]]
	if !ok {
		return &exitError{code: 2, err: withHint(fmt.Errorf("unknown %s command %q", group, args[0]), "run 'vallum "+group+" --help'")}
	}
	return f(ctx, env, args[1:])
}

// oneArg parses the flags and the one positional argument among args.
func oneArg(fs *flag.FlagSet, what string, args []string) (string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", &exitError{code: 2, err: withHint(fmt.Errorf("want exactly one %s", what), "run 'vallum "+fs.Name()+" --help'")}
	}
	return pos[0], nil
}

// roleFlags collects repeated --role flags.
type roleFlags []string

func (r *roleFlags) String() string { return strings.Join(*r, ",") }

func (r *roleFlags) Set(v string) error {
	for role := range strings.SplitSeq(v, ",") {
		if role = strings.TrimSpace(role); role != "" {
			*r = append(*r, role)
		}
	}
	return nil
}

// newTokenAnswer is the server's answer carrying a new token.
type newTokenAnswer struct {
	User    struct{ Name string } `json:"user"`
	TokenID string                `json:"token_id"`
	Token   string                `json:"token"`
}

// printToken prints a new token once: the token alone on stdout (so that
// a script can capture it) and the warning on stderr.
func printToken(env *cliEnv, b []byte, asJSON bool) error {
	if asJSON {
		return writeIndented(env.stdout, b)
	}
	var a newTokenAnswer
	if err := json.Unmarshal(b, &a); err != nil || a.Token == "" {
		return fmt.Errorf("the server's answer holds no token: %s", b)
	}
	fmt.Fprintf(env.stderr, "vallum: API token %s for %s; it is shown only this once: store it now (a password manager or a secret store).\n", a.TokenID, a.User.Name)
	fmt.Fprintf(env.stderr, "vallum: the server keeps only its hash; if it is lost, issue another with 'vallum user token %s' and revoke this one with 'vallum user revoke %s'.\n", a.User.Name, a.TokenID)
	_, err := fmt.Fprintln(env.stdout, a.Token)
	return err
}

func runUserAdd(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "user add", "user add NAME --role ROLE [--role ROLE2] [--json] [--server URL] [--data DIR]")
	var rs roleFlags
	fs.Var(&rs, "role", "a role of the user (repeat for several): "+strings.Join(api.AllRoles(), ", "))
	asJSON := fs.Bool("json", false, "print the server's JSON answer (it holds the token)")
	server, data := addClientFlags(fs)
	name, err := oneArg(fs, "user name", args)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return &exitError{code: 2, err: withHint(errors.New("a user needs at least one role"), "add --role ROLE; roles: "+strings.Join(api.AllRoles(), ", "))}
	}
	body, err := json.Marshal(map[string]any{"name": name, "roles": []string(rs)})
	if err != nil {
		return err
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodPost, "/api/v1/users", body, true)
	if err != nil {
		return err
	}
	return printToken(env, b, *asJSON)
}

func runUserToken(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "user token", "user token NAME [--json] [--server URL] [--data DIR]")
	asJSON := fs.Bool("json", false, "print the server's JSON answer (it holds the token)")
	server, data := addClientFlags(fs)
	name, err := oneArg(fs, "user name", args)
	if err != nil {
		return err
	}
	b, err := newClient(*server, *data).do(ctx, http.MethodPost, "/api/v1/users/"+url.PathEscape(name)+"/tokens", nil, true)
	if err != nil {
		return err
	}
	return printToken(env, b, *asJSON)
}

func runUserDisable(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "user disable", "user disable NAME [--reason TEXT] [--server URL] [--data DIR]")
	reason := fs.String("reason", "", "why, recorded in the evidence log")
	server, data := addClientFlags(fs)
	name, err := oneArg(fs, "user name", args)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]string{"reason": *reason})
	if err != nil {
		return err
	}
	if _, err := newClient(*server, *data).do(ctx, http.MethodPost, "/api/v1/users/"+url.PathEscape(name)+"/disable", body, true); err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.stdout, "disabled %s: their tokens no longer work\n", name)
	return err
}

func runUserRevoke(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "user revoke", "user revoke TOKEN_ID [--server URL] [--data DIR]")
	server, data := addClientFlags(fs)
	id, err := oneArg(fs, "token id", args)
	if err != nil {
		return err
	}
	if _, err := newClient(*server, *data).do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(id), nil, true); err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.stdout, "revoked token %s\n", id)
	return err
}

func runUserList(ctx context.Context, env *cliEnv, args []string) error {
	return runList(ctx, env, "user list", "/api/v1/users", args, func(w io.Writer, list struct{ Users []api.User }) {
		fmt.Fprintf(w, "NAME\tROLES\tCREATED\tSTATUS\tTOKENS\n")
		for _, u := range list.Users {
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			var toks []string
			for _, t := range u.Tokens {
				s := t.ID
				switch {
				case t.Revoked:
					s += " (revoked)"
				case t.LastUsedAt != nil:
					s += " (used " + t.LastUsedAt.UTC().Format(time.RFC3339) + ")"
				default:
					s += " (never used)"
				}
				toks = append(toks, s)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Name, strings.Join(u.Roles, ","), u.CreatedAt.UTC().Format(time.RFC3339), status, strings.Join(toks, ", "))
		}
	})
}

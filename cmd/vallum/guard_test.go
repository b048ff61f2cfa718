package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vallum/vallum/internal/guard"
)

const guardPerimeter = `
networks: [{cidr: 10.0.0.0/8}]
domains: [acme.example]
assets: [{name: pacs1, addresses: [10.2.0.20], flags: [health]}]
devices: [{name: fw-edge, kind: firewall}]
`

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	code = run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestGuardCheck(t *testing.T) {
	per := writeFile(t, "perimeter.yaml", guardPerimeter)
	const now = `"now":"2026-11-28T12:00:00Z"`
	tests := []struct {
		name      string
		args      []string
		stdin     string
		code      int
		verdict   guard.Verdict
		stderrHas string
	}{
		{"allow", []string{"--perimeter", per}, `{"action":{"kind":"firewall_block","target":"192.0.2.7","params":{"device":"fw-edge"}},"proposer":"p",` + now + `}`, 0, guard.Allow, ""},
		{"conditional", []string{"--perimeter", per}, `{"action":{"kind":"host_isolation","target":"pacs1"},"proposer":"p",` + now + `}`, 3, guard.Conditional, ""},
		{"deny", []string{"--perimeter", per}, `{"action":{"kind":"remote_access","target":"192.0.2.7"},"proposer":"p",` + now + `}`, 4, guard.Deny, ""},
		{"deny unclassified", []string{"--perimeter", per}, `{"action":{"kind":"hack_back","target":"192.0.2.7"},"proposer":"p"}`, 4, guard.Deny, ""},
		{"bad input names the field", []string{"--perimeter", per}, `{"action":{"kind":"honeypot","target":"10.1.1.1","params":{"egress_contained":"yes"}},"proposer":"p"}`, 2, "", "action.params.egress_contained"},
		{"unknown field", []string{"--perimeter", per}, `{"action":{"kind":"honeypot","target":"10.1.1.1"},"proposer":"p","in_perimeter":true}`, 2, "", "field in_perimeter: unknown field"},
		{"missing perimeter flag", nil, `{}`, 2, "", "--perimeter is required"},
		{"bad perimeter", []string{"--perimeter", writeFile(t, "bad.yaml", "networks: [{cidr: nope}]")}, `{}`, 2, "", "networks[0].cidr"},
		{"missing perimeter file", []string{"--perimeter", filepath.Join(t.TempDir(), "none.yaml")}, `{}`, 2, "", "couldn't read perimeter file"},
		{"bad policy dir", []string{"--perimeter", per, "--policy", t.TempDir()}, `{}`, 2, "", "pack.yaml is missing"},
		{"unknown flag", []string{"--perimeter", per, "--fast"}, `{}`, 2, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.stdin, append([]string{"guard", "check"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit code: got %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if tt.stderrHas != "" && !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr, tt.stderrHas)
			}
			if tt.verdict == "" {
				if stdout != "" {
					t.Errorf("stdout: got %q, want nothing on bad input", stdout)
				}
				return
			}
			var d guard.Decision
			if err := json.Unmarshal([]byte(stdout), &d); err != nil {
				t.Fatalf("stdout is not a decision: %v\n%s", err, stdout)
			}
			if d.Verdict != tt.verdict {
				t.Errorf("verdict: got %q, want %q", d.Verdict, tt.verdict)
			}
			if d.Receipt != nil || strings.Contains(stdout, `"receipt"`) {
				t.Errorf("offline decision has a receipt: %s", stdout)
			}
			if !strings.HasPrefix(d.Policy.Digest, "sha256:") {
				t.Errorf("policy digest: got %q, want sha256:…", d.Policy.Digest)
			}
		})
	}
}

func TestGuardExplainAndLint(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"list", []string{"guard", "explain"}, 0, []string{"ransom_payment", "remote_access", "anything else is denied"}, ""},
		{"kind", []string{"guard", "explain", "remote_data_deletion"}, 0, []string{"[remote-data-deletion]", "cp-635-bis: c.p. art. 635-bis", "Instead: abuse_request, authority_report"}, ""},
		{"requirement", []string{"guard", "explain", "ransom_payment"}, 0, []string{"needs approval:board", "eu-reg-2019-796"}, ""},
		{"json", []string{"guard", "explain", "--json", "beacon_active"}, 0, []string{`"id": "beacon-active"`}, ""},
		{"unknown kind", []string{"guard", "explain", "hack_back"}, 2, nil, `kind "hack_back" is not in the rule pack`},
		{"lint default", []string{"guard", "lint"}, 0, []string{"ok: rule pack it-ir-guardrails", "digest sha256:"}, ""},
		{"lint repo pack", []string{"guard", "lint", "--policy", filepath.Join("..", "..", "policies")}, 0, []string{"ok: rule pack it-ir-guardrails"}, ""},
		{"lint broken pack", []string{"guard", "lint", "--policy", brokenPack(t)}, 1, nil, "does not match the schema"},
		{"no subcommand", []string{"guard"}, 2, nil, "Usage: vallum guard"},
		{"unknown subcommand", []string{"guard", "attack"}, 2, nil, `unknown guard command "attack"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", tt.args...)
			if code != tt.code {
				t.Errorf("exit code: got %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout: got %q, want it to contain %q", stdout, want)
				}
			}
			if tt.stderr != "" && !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr: got %q, want it to contain %q", stderr, tt.stderr)
			}
		})
	}
}

// brokenPack copies the repository's pack with a typo in a rule.
func brokenPack(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"pack.yaml", "schema.cedarschema", "rules.cedar"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "policies", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "rules.cedar" {
			b = bytes.Replace(b, []byte("context.in_perimeter"), []byte("context.in_perimetre"), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestGuardCheckBinary runs the real binary: exit codes and streams as a
// script sees them.
func TestGuardCheckBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "vallum")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	per := writeFile(t, "perimeter.yaml", guardPerimeter)
	tests := []struct {
		name, stdin string
		code        int
		want        string
	}{
		{"deny", `{"action":{"kind":"remote_data_deletion","target":"exfil.evil.test"},"proposer":"p"}`, 4, `"cp-635-bis"`},
		{"allow", `{"action":{"kind":"abuse_request","target":"abuse@hosting.example"},"proposer":"p"}`, 0, `"verdict": "allow"`},
		{"bad input", `{"action":{"kind":"abuse_request","target":"x"},"proposer":"p","approvals":[{"role":"god","by":"x","at":"2026-11-28T11:00:00Z"}]}`, 2, "approvals[0].role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, "guard", "check", "--perimeter", per)
			cmd.Stdin = strings.NewReader(tt.stdin)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit code: got %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if got := out.String() + errb.String(); !strings.Contains(got, tt.want) {
				t.Errorf("output: got %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

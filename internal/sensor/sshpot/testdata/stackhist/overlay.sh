#!/bin/sh
# Builds the SSH honeypot's test binary with a runtime that reports each
# goroutine's stack size, and runs the held-sessions benchmark with it:
# the child prints "STACKS <count> <start function> size=<bytes> used~<bytes>"
# after its stats. Diagnostic only; the runtime is patched through
# go build -overlay, nothing is installed.
#
#	internal/sensor/sshpot/testdata/stackhist/overlay.sh 2000
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pkg=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
cat >"$tmp/overlay.json" <<JSON
{"Replace": {"$(go env GOROOT)/src/runtime/zz_stackhist.go": "$here/runtime_stackhist.go", "$pkg/zz_hook_test.go": "$here/hook_test.go"}}
JSON
(cd "$pkg" && go test -overlay "$tmp/overlay.json" -c -o "$tmp/sshpot.test" .)
cd "$tmp" && VALLUM_SSHPOT_SESSIONS="${1:-2000}" ./sshpot.test -test.run TestHeldSessionsMemory -test.v -test.timeout 30m 2>&1 | grep -E 'STACKS|KiB'
rm -rf "$tmp"

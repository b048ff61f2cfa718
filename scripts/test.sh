#!/usr/bin/env bash
# Runs Vallum's whole test suite: go vet, then every test with the race
# detector (the fuzz targets run their seed corpora). Installs what the
# tests need first when run as root on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

if ! command -v go >/dev/null; then
	echo "test.sh: Go is not installed (expected /usr/local/go/bin/go)" >&2
	exit 1
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	# command:package for every outside program a test drives.
	need=()
	for pair in gcc:gcc openssl:openssl ssh:openssh-client sshpass:sshpass nmap:nmap hydra:hydra \
		curl:curl redis-cli:redis-tools mysql:mariadb-client nft:nftables ip:iproute2 unbound:unbound dig:dnsutils chromium:chromium pdftoppm:poppler-utils; do
		command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
	done
	if [ ${#need[@]} -gt 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
	fi
fi

go mod download
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "test.sh: not gofmt-formatted:" $unformatted >&2
	exit 1
fi
go vet ./...
go test -race -timeout 15m ./...
# The side-by-side benchmark against Tessera is its own module.
if [ -f bench/go.mod ]; then
	(cd bench && go vet ./... && go test -timeout 10m ./...)
fi

#!/bin/sh
# The one build command line of tokenguard's release binaries. `make release`
# and the Dockerfile both run this script, and cmd/tokenguard/release_test.go
# checks that they do, that its output has no dynamic dependencies and that
# two runs give the same bytes.
#
#	[GO=go] [GOOS=linux] [GOARCH=amd64] [VERSION=v0.1.0] [COMMIT=<hash>] [DATE=<RFC 3339>] scripts/build.sh OUTPUT
#
# GOOS and GOARCH default to the host's. COMMIT and DATE default to HEAD's
# hash and commit date (UTC) when git and a checkout are at hand, and are
# left out otherwise (the Dockerfile passes them as build arguments). The
# date is the commit's, never the clock's: the same commit builds the same
# bytes. Unset values fall back to what `go` records (internal/buildinfo).
set -eu

out=${1:?usage: scripts/build.sh OUTPUT}
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$(dirname "$0")/.."

VERSION=${VERSION:-}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || true)}
DATE=${DATE:-$(TZ=UTC0 git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || true)}
for v in "$VERSION" "$COMMIT" "$DATE"; do
	case $v in
	*[!A-Za-z0-9.+:_-]*) echo "scripts/build.sh: $v: only letters, digits and . + : _ - may be stamped" >&2; exit 2 ;;
	esac
done

pkg=github.com/tokenguard/tokenguard/internal/buildinfo
CGO_ENABLED=0 exec "${GO:-go}" build -trimpath -buildvcs=false \
	-ldflags "-s -w -buildid= -X $pkg.version=$VERSION -X $pkg.commit=$COMMIT -X $pkg.date=$DATE" \
	-o "$out" ./cmd/tokenguard

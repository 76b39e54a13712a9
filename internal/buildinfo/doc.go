// Package buildinfo says which tokenguard this is: its module version, the
// commit it was built from and that commit's date, for `tokenguard version`,
// the tokenguard_build_info gauge and the gateway's start-up log line.
//
// Release builds (scripts/build.sh, which `make release` and the Dockerfile
// run) stamp the three values with the linker:
//
//	-X github.com/tokenguard/tokenguard/internal/buildinfo.version=v0.1.0
//	-X github.com/tokenguard/tokenguard/internal/buildinfo.commit=<git rev-parse HEAD>
//	-X github.com/tokenguard/tokenguard/internal/buildinfo.date=<the commit's date, UTC, RFC 3339>
//
// Any other build falls back to what the go command recorded
// (runtime/debug.ReadBuildInfo): the module version for `go install
// ...@v0.1.0` ("(devel)" or a pseudo-version for a local build), and
// vcs.revision and vcs.time when it was built in a git checkout with VCS
// stamping on. A stamped value wins over a recorded one. The date is the
// commit's, never the clock's, so that two builds of one commit are the
// same bytes.
package buildinfo

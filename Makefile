# tokenguard: `make help` lists the targets.
SHELL      := bash
GO         ?= go
PKGS       := ./...
FUZZTIME   ?= 15s
BENCHCOUNT ?= 10
STATICCHECK_VERSION ?= v0.8.2
GOBIN      := $(shell $(GO) env GOPATH)/bin

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: build ## Run the demo: emulator, hello upstream and gateway in one process (Ctrl-C stops it).
	./bin/tokenguard demo

.PHONY: build
build: ## Build the tokenguard binary into bin/.
	$(GO) build -trimpath -o bin/tokenguard ./cmd/tokenguard

# make release VERSION=v0.x.y: each of RELEASE_TARGETS is built by
# scripts/build.sh (the one build command line, which the Dockerfile runs
# too) and packed with LICENSE, README.md and CHANGELOG.md into
# $(DIST)/tokenguard_<version>_<os>_<arch>.tar.gz, reproducibly: GNU tar with
# sorted names, owner 0 and the commit's time, then gzip -n. SHA256SUMS lists
# the archives.
RELEASE_TARGETS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
DIST            ?= dist
TAR             ?= tar
SHA256SUM       ?= sha256sum

.PHONY: release
release: ## Cross-build static binaries for linux and darwin, amd64 and arm64, into dist/ with SHA256SUMS (VERSION=v0.x.y).
	@[ -n "$(VERSION)" ] || { echo "release: set VERSION, e.g. make release VERSION=v0.1.0"; exit 2; }
	@$(TAR) --version 2>/dev/null | grep -q 'GNU tar' || { echo "release: needs GNU tar (macOS: brew install gnu-tar, then make release TAR=gtar)"; exit 2; }
	@set -o pipefail; \
	mtime=$$(git log -1 --format=%ct) || { echo "release: needs git and a checkout: the archives carry the commit's time"; exit 2; }; \
	git diff --quiet HEAD -- || echo "release: warning: uncommitted changes; the binaries are stamped with HEAD ($$(git rev-parse --short HEAD))"; \
	rm -rf $(DIST) && mkdir -p $(DIST) || exit 1; \
	for t in $(RELEASE_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; name=tokenguard_$(VERSION)_$${os}_$${arch}; \
		echo "release: $(DIST)/$$name.tar.gz"; \
		GO=$(GO) GOOS=$$os GOARCH=$$arch VERSION=$(VERSION) ./scripts/build.sh $(DIST)/$$name/tokenguard || exit 1; \
		cp LICENSE README.md CHANGELOG.md $(DIST)/$$name/ || exit 1; \
		$(TAR) -C $(DIST) --sort=name --format=gnu --owner=0 --group=0 --numeric-owner \
			--mtime=@$$mtime --mode=go-w,a+rX -cf - $$name | gzip -n -9 > $(DIST)/$$name.tar.gz || exit 1; \
		rm -r $(DIST)/$$name; \
	done; \
	cd $(DIST) && $(SHA256SUM) *.tar.gz > SHA256SUMS

.PHONY: test
test: vet examples ## Run the whole suite with the race detector, then the allocation tests without it (includes the nginx end-to-end test when nginx is installed).
	$(GO) test -race -count=1 -timeout 10m $(PKGS)
	@$(MAKE) --no-print-directory test-allocs
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory test-sdk; \
	elif [ -n "$$CI" ]; then echo "test: CI must run the Realm Web SDK test (sdktest/): install nodejs and npm"; exit 1; \
	else echo "test: skipping the Realm Web SDK test (sdktest/): node and npm are needed (make test-sdk)"; fi

.PHONY: test-sdk
test-sdk: build ## Run the Realm Web SDK against bin/tokenguard emulator and proxy: npm ci and node --test in sdktest/.
	cd sdktest && npm ci --no-audit --no-fund && TOKENGUARD_BIN=$(CURDIR)/bin/tokenguard node --test realm-web.test.mjs

# The allocation tests skip under -race, whose instrumentation allocates: this
# runs them without it, and fails if any of them did not run.
ALLOC_TESTS := TestHitPathAllocations|TestHitPathAllocationsGateway|TestHitDoesNotAllocate|TestNegativeHitDoesNotAllocate

.PHONY: test-allocs
test-allocs: ## Run the allocation tests without the race detector.
	@out=$$($(GO) test -count=1 -v -run '^($(ALLOC_TESTS))$$' ./middleware/ ./cache/ ./bench/ 2>&1); rc=$$?; \
	echo "$$out" | grep -E '^(--- |ok|FAIL|PASS)'; \
	if [ $$rc -ne 0 ]; then echo "$$out" | tail -40; exit $$rc; fi; \
	if echo "$$out" | grep -q -- '--- SKIP'; then echo "test-allocs: an allocation test skipped"; exit 1; fi; \
	n=$$(echo "$$out" | grep -c -- '^--- PASS'); \
	if [ "$$n" -ne 5 ]; then echo "test-allocs: $$n of 5 allocation tests ran"; exit 1; fi

.PHONY: vet
vet: ## go vet every package.
	$(GO) vet $(PKGS)

.PHONY: examples
examples: ## Vet and test the examples that have their own go.mod (examples/chi).
	@for d in $$(find examples -name go.mod -not -path '*/testdata/*' -exec dirname {} \;); do \
		echo "examples: $$d"; (cd $$d && $(GO) vet ./... && $(GO) test -race -count=1 ./...) || exit 1; \
	done

.PHONY: lint
lint: ## gofmt, go vet and staticcheck (and govulncheck where its database can be reached).
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@command -v staticcheck >/dev/null || [ -x $(GOBIN)/staticcheck ] || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$(GOBIN):$$PATH" staticcheck $(PKGS)
	@if [ -n "$$CI" ] || ! $(GO) run golang.org/x/vuln/cmd/govulncheck@latest ./... 2>/dev/null; then \
		echo "govulncheck skipped (its database cannot be reached from here)"; fi

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 15s).
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./examples/'); do \
		pkg=./$$(dirname $${f#./}); \
		for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/^func //'); do \
			echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=5s $$pkg; \
		done; \
	done

.PHONY: bench-micro
bench-micro: ## In-process benchmarks, -count=$(BENCHCOUNT), for benchstat.
	$(GO) test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) ./bench/ ./cache/ ./middleware/ | tee bench-micro.txt

.PHONY: bench
bench: ## Load harness: tokenguard vs bare upstream, plain Go proxy and nginx; writes bench/results/<date>/.
	$(GO) run ./bench/load

.PHONY: soak
soak: ## Bounded 5-minute soak through `tokenguard proxy` (not run in CI).
	$(GO) test -race -count=1 -timeout 20m -run 'TestSoak|TestFaultMatrix' ./reliability/ -soak

.PHONY: clean
clean: ## Remove build outputs.
	rm -rf bin bench-micro.txt dist

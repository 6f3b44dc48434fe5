# caddy-ajp: `make help` lists the targets; `make demo` and `make test` are
# the two most people want.
#
# Two Go modules live here: the plugin at the root (what users import) and
# tools/ (launchers, benchmark, demo, integration tests, the pinned xcaddy),
# which requires the plugin through `replace … => ../`. Every target that
# runs Go code runs it in both.
SHELL := /bin/sh
GO ?= go
.DEFAULT_GOAL := help

CADDY_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
# bin/caddy is rebuilt only when the plugin's sources change, the xcaddy
# or Caddy version pinned in the go.mod files, or the PGO profile.
SOURCES := $(shell find . -name '*.go' -not -path './tools/*' -not -path './.demo/*' -not -path './.bench/*') go.mod go.sum tools/go.mod
CADDY := bin/caddy
# bin/caddy is built with profile-guided optimisation from PGO_PROFILE
# (`make pgo` writes it) when the file is there. CADDY_NOPGO, the same build
# without a profile, is what `make pgo` profiles: the profile then describes
# code that no profile shaped, and bin/caddy does not depend on itself.
PGO_PROFILE := pgo/caddy.pgo
PGO_FLAGS := $(if $(wildcard $(PGO_PROFILE)),-pgo=$(CURDIR)/$(PGO_PROFILE),-pgo=off)
# XCADDY_GO_BUILD_FLAGS replaces xcaddy's own build flags, so they are
# repeated here (xcaddy v0.4.5, builder.go).
XCADDY_FLAGS := -ldflags "-w -s" -trimpath -tags nobadger,nomysql,nopgx
CADDY_NOPGO := bin/caddy-nopgo
# make bench's scenarios that make up the profile: small and large pages, a
# POST, over HTTP, HTTPS and HTTP/2, and the page mix.
PGO_SCENARIOS := tiny,post64k,1MiB,tls-tiny,h2-tiny,h2-post64k,h2-mix
# xcaddy asks the module proxy for our module before it uses the local
# replacement; a proxy that answers 403 instead of 404 for an unknown module
# would stop the build, so the lookup ends with `off` instead of an error.
XCADDY_GOPROXY := $(shell $(GO) env GOPROXY | sed -e 's/,direct$$//' -e 's/,off$$//' -e 's/|off$$//')|off
# One test binary at a time: the Tomcat nodes, Apache and Caddy of one
# package get the machine's cores to themselves.
TESTFLAGS := -p 1 -count=1 -timeout 25m

.PHONY: help test demo deps build vet unit fuzz bench pgo clean

## help: list the targets (what plain `make` does)
help:
	@echo 'caddy-ajp: make TARGET'
	@sed -n 's/^## \([a-z]*\): \(.*\)/\1\t\2/p' $(MAKEFILE_LIST) | while IFS="$$(printf '\t')" read -r t d; do printf '  %-6s %s\n' "$$t" "$$d"; done

## test: gofmt, vet and every test of both modules, with real Tomcat, Apache and bin/caddy (~2 min)
test: deps $(CADDY) vet
	$(GO) test $(TESTFLAGS) ./...
	cd tools && CADDY_BINARY=$(CURDIR)/$(CADDY) $(GO) test $(TESTFLAGS) ./...

## unit: the fast tests of both modules (-short: no Tomcat, Apache or Caddy binary; ~20 s)
unit:
	$(GO) test -short -count=1 ./...
	cd tools && $(GO) test -short -count=1 ./...

## vet: gofmt check and go vet, both modules
vet:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd tools && $(GO) vet ./...

## demo: two Tomcat nodes with the sample app behind Caddy on https://localhost:8443 (Ctrl-C stops it)
demo: deps $(CADDY)
	$(GO) -C tools build -o $(CURDIR)/bin/ajpdemo ./cmd/ajpdemo
	bin/ajpdemo -caddy $(CURDIR)/$(CADDY)

## build: bin/caddy, Caddy with every caddy-ajp module, built with xcaddy as users build it
build: $(CADDY)

$(CADDY): $(SOURCES) $(wildcard $(PGO_PROFILE))
	@mkdir -p bin
	cd tools && GOPROXY='$(XCADDY_GOPROXY)' XCADDY_GO_BUILD_FLAGS='$(XCADDY_FLAGS) $(PGO_FLAGS)' $(GO) tool xcaddy build $(CADDY_VERSION) --with github.com/caddy-ajp/caddy-ajp=$(CURDIR) --output $(CURDIR)/$(CADDY)

$(CADDY_NOPGO): $(SOURCES)
	@mkdir -p bin
	cd tools && GOPROXY='$(XCADDY_GOPROXY)' XCADDY_GO_BUILD_FLAGS='$(XCADDY_FLAGS) -pgo=off' $(GO) tool xcaddy build $(CADDY_VERSION) --with github.com/caddy-ajp/caddy-ajp=$(CURDIR) --output $(CURDIR)/$(CADDY_NOPGO)

## deps: install Tomcat 10.1, Apache httpd, mod_jk and Chromium when missing (apt-get; sudo unless root)
deps:
	@./scripts/deps.sh

## fuzz: run every fuzz target (AJP codec, response stream, Tomcat path reading, Apache config parser) for FUZZTIME each (default 30s)
FUZZTIME ?= 30s
fuzz:
	@for pkg in ./ajptransport/ajp ./ajptransport ./internal/tomcatpath ./apacheconf; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
			echo "== $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
		done; \
	done

## bench: Apache mod_proxy_ajp (tuned and Debian-sized) / mod_jk, stock reverse_proxy and caddy-ajp over HTTP, HTTPS and HTTP/2 (wrk, h2load), into BENCHMARKS.md (~35 min; BENCH_SCENARIOS=plain|tls|h2 for a part)
bench:
	@./scripts/deps.sh bench
	$(MAKE) build
	$(GO) -C tools build -o $(CURDIR)/bin/ajpbench ./cmd/ajpbench
	bin/ajpbench -caddy $(CURDIR)/$(CADDY) -out BENCHMARKS.md

## pgo: pgo/caddy.pgo, the CPU profile bin/caddy is built with: bin/caddy-nopgo under one round of make bench's load (7 scenarios; ~2 min)
pgo:
	@./scripts/deps.sh bench
	$(MAKE) $(CADDY_NOPGO)
	$(GO) -C tools build -o $(CURDIR)/bin/ajpbench ./cmd/ajpbench
	BENCH_FRONTENDS=caddy-ajp BENCH_SCENARIOS=$(PGO_SCENARIOS) BENCH_ROUNDS=1 \
		bin/ajpbench -caddy $(CURDIR)/$(CADDY_NOPGO) -profile $(PGO_PROFILE) -out ''

## clean: remove bin/ and the demo's and benchmark's working directories
clean:
	rm -rf bin .demo .bench

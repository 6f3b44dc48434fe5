# caddy-ajp: the two commands are `make demo` and `make test`.
SHELL := /bin/sh
GO ?= go
CADDY_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/caddyserver/caddy/v2)
SOURCES := $(shell find . -name '*.go' -not -path './.demo/*' -not -path './.bench/*') go.mod go.sum
CADDY := bin/caddy
# xcaddy asks the module proxy for our module before it uses the local
# replacement; a proxy that answers 403 instead of 404 for an unknown module
# would stop the build, so the lookup ends with `off` instead of an error.
XCADDY_GOPROXY := $(shell $(GO) env GOPROXY | sed -e 's/,direct$$//' -e 's/,off$$//' -e 's/|off$$//')|off

.PHONY: test demo deps build vet unit fuzz bench clean

## test: every test, including those against real Tomcat and the xcaddy-built Caddy
test: deps $(CADDY)
	$(GO) vet ./...
	# one test binary at a time: the Tomcat nodes, Apache and Caddy of one
	# package get the machine's cores to themselves
	CADDY_BINARY=$(CURDIR)/$(CADDY) $(GO) test -p 1 -count=1 -timeout 25m ./...

## demo: Tomcat with the sample app behind Caddy on https://localhost:8443 (Ctrl-C stops it)
demo: deps $(CADDY)
	$(GO) run ./internal/cmd/ajpdemo -caddy $(CURDIR)/$(CADDY)

## build: Caddy with every caddy-ajp module, as users build it with xcaddy
build: $(CADDY)

$(CADDY): $(SOURCES)
	@mkdir -p bin
	GOPROXY='$(XCADDY_GOPROXY)' $(GO) tool xcaddy build $(CADDY_VERSION) --with github.com/caddy-ajp/caddy-ajp=. --output $(CADDY)

deps:
	@./scripts/deps.sh

vet:
	gofmt -l . | (! grep .) && $(GO) vet ./...

## unit: the fast tests only (no Tomcat, no Caddy binary)
unit:
	$(GO) test -short -count=1 ./...

## fuzz: run every fuzz target (AJP decoder, Tomcat path reading) for FUZZTIME each
FUZZTIME ?= 30s
fuzz:
	@for pkg in ./ajptransport ./internal/tomcatpath; do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
			echo "== $$pkg $$f"; $(GO) test $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
		done; \
	done

## bench: Apache mod_proxy_ajp / mod_jk, stock reverse_proxy and caddy-ajp in front of two Tomcat nodes, under wrk (BENCHMARKS.md)
bench:
	@./scripts/deps.sh bench
	$(MAKE) build
	$(GO) run ./internal/cmd/ajpbench -caddy $(CURDIR)/$(CADDY) -out BENCHMARKS.md

clean:
	rm -rf bin .demo .bench

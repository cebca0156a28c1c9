SHELL := /bin/bash
# docker-secscan. Every go command needs GOEXPERIMENT=jsonv2: Trivy v0.74.0 imports
# encoding/json/v2, which Go 1.26 ships behind that experiment (Go 1.27 does not work).
export GOEXPERIMENT := jsonv2

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/docker-secscan/docker-secscan/internal/version.Version=$(VERSION)
BIN       := bin/docker-secscan
ENGINE    := bin/secscan-engine
PLUGINDIR := $(or $(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins

.PHONY: all build install uninstall demo test unit e2e bench vet fmt pin-deps clean

all: build

## build: the plugin (bin/docker-secscan, no Trivy) and its scan engine (bin/secscan-engine, Trivy)
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/docker-secscan
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(ENGINE) ./cmd/secscan-engine

## install: put both in the docker CLI plugin folder ($DOCKER_CONFIG or ~/.docker)/cli-plugins
install: build
	mkdir -p $(PLUGINDIR)
	install -m 0755 $(ENGINE) $(PLUGINDIR)/secscan-engine
	install -m 0755 $(BIN) $(PLUGINDIR)/docker-secscan
	@echo "installed $(PLUGINDIR)/docker-secscan and secscan-engine: try 'docker secscan --help'"

uninstall:
	rm -f $(PLUGINDIR)/docker-secscan $(PLUGINDIR)/secscan-engine

## demo: the main job on a built-in demo (private dockerd + registry, generated image and DB)
demo: build
	$(GO) run ./cmd/secscan-demo -plugin $(BIN)

## test: everything CI runs: format, vet, unit tests, end-to-end tests
test: fmt vet unit e2e

## unit: the tests that need no daemon (fast)
unit:
	$(GO) test -count=1 ./...

## e2e: on Docker 20.10 (Debian's docker.io) and Docker 29 (built from the Go module proxy on first
## use, about 9 to 16 min on 2 cores, kept under ${XDG_CACHE_HOME:-~/.cache}/docker-secscan/docker29), each a
## private engine and registry (root). SECSCAN_E2E_ENGINES=20.10 (or 29) runs one engine only.
## Scans use the warm scan engine (the default outside CI); SECSCAN_E2E_ENGINE_IDLE=0 runs the suite with
## one-shot engines ($SECSCAN_ENGINE_IDLE for every test but the WarmEngine* ones, which set their own).
e2e: build
	SECSCAN_BINARY=$(CURDIR)/$(BIN) $(GO) test -tags e2e -count=1 -timeout 80m -v ./e2e 2>&1 | tee e2e.out | grep -E '^(=== RUN| *--- |PASS|FAIL|ok|e2e:|panic)|_test.go' ; exit $${PIPESTATUS[0]}

## bench: docker secscan against the Trivy CLI v0.74.0 on the same images and DB, on Docker 20.10 (classic
## image store) and Docker 29 (containerd image store, built on first use as for e2e) -> BENCHMARKS.md (root;
## ~16 min once both engines and the Trivy CLI are built). SECSCAN_BENCH_ENGINES=20.10 (or 29) measures one engine only.
## Then the warm scan engine's section (about 7 min more); alone: go run ./e2e/bench -warm only -plugin bin/docker-secscan.
## Then the fleet of 12 runners with and without a Trivy server (issue 12: e2e's FleetOf12Runners, about 1 min per
## engine); alone: go run ./e2e/bench -fleet only -plugin bin/docker-secscan.
bench: build
	$(GO) test -run XXX -bench . -benchmem ./internal/policy ./internal/publish
	$(GO) run ./e2e/bench -plugin $(BIN) -out BENCHMARKS.md

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## pin-deps: raise go.mod to what docker/cli's vendor.mod requires (design notes, fact 8)
pin-deps:
	$(GO) run ./internal/depcheck/pindeps
	$(GO) mod tidy

clean:
	rm -rf bin e2e.out

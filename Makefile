# chaoslab — reproduce production incidents on purpose, prove them with assertions.
#
#   make scenario   run the scenario catalog (embedded backend by default)
#   make test       run every test
#
# Variables: SCENARIO=<ginkgo label filter> (e.g. faults, 'gateway && !504-slow-upstream'),
# BACKEND=embedded|docker, CLUSTER=kwok|kind|existing|none (default: kwok when
# `make k8s-tools` has built it, else none), REPORT_DIR=reports/latest,
# PARALLEL=<scenarios at a time> (default: three per core; 1 = serial).

SHELL       := /bin/bash
GO          ?= go
SCENARIO    ?=
BACKEND     ?= embedded
REPORT_DIR  ?= reports/latest
CLUSTER     ?=
GINKGO      := $(GO) tool ginkgo
GINKGO_OPTS ?=

export CHAOSLAB_BACKEND    := $(BACKEND)
export CHAOSLAB_REPORT_DIR := $(abspath $(REPORT_DIR))
export CHAOSLAB_CLUSTER    := $(CLUSTER)
export PARALLEL

.PHONY: flake fuzz scenario test unit catalog catalog-docker lint bench build k8s-tools doctor clean help

help:
	@sed -n '2,10p' Makefile | sed 's/^# \{0,1\}//'

## scenario: run the catalog; writes junit.xml, results.json and index.html to REPORT_DIR.
## PARALLEL scenarios at a time (default three per core; PARALLEL=1 is serial).
scenario: $(if $(filter kwok,$(CLUSTER)),k8s-tools)
	@scripts/catalog.sh $(REPORT_DIR) $(if $(SCENARIO),--label-filter='$(SCENARIO)') $(GINKGO_OPTS)

## test: unit and integration tests of every package, then the whole catalog.
## It builds the kwok control plane first when it is missing (about 9 minutes
## cold on 2 cores, cached in ~/.cache/chaoslab afterwards).
test: lint k8s-tools unit catalog catalog-docker

unit:
	$(GO) test -count=1 -timeout=20m $$($(GO) list ./... | grep -v /scenarios/suite)

# The catalog runs by itself (not beside the unit tests) so its ratios are
# measured on a quiet machine; its report goes to reports/test.
catalog:
	$(MAKE) --no-print-directory scenario REPORT_DIR=reports/test CLUSTER=$(or $(CLUSTER),kwok)

# The faults and gateway families again on containers; skipped with the
# command to run when no docker daemon is reachable (.ci/run starts one).
catalog-docker:
	$(MAKE) --no-print-directory scenario BACKEND=docker SCENARIO='faults || gateway' REPORT_DIR=reports/test-docker

## flake: the catalog N times (HOG=1: with a busy loop on one core); pass
## rates, slowest phases and failures in reports/flake/flake.md.
N   ?= 10
HOG ?= 0
flake: $(if $(filter kwok,$(CLUSTER)),k8s-tools)
	@N=$(N) HOG=$(HOG) OUT=reports/flake scripts/flake.sh $(if $(SCENARIO),--label-filter='$(SCENARIO)') $(GINKGO_OPTS)

## fuzz: every fuzz target for FUZZTIME (default 60s) each; `make test`
## replays the seed corpora and runs each target for 3 s.
FUZZTIME ?= 60s
fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## bench: lab start time, injected-latency accuracy, recorder vs raw vegeta, gateway vs nginx.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 20x -count 1 ./lab/
	$(GO) test -run '^$$' -bench . -count 1 ./load/
	$(GO) test -run '^$$' -bench BenchmarkGateway -benchtime 1x -timeout 10m ./fakes/kong/

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/chaoslab ./cmd/chaoslab

doctor: build
	bin/chaoslab doctor

k8s-tools:
	@scripts/k8s-tools.sh >/dev/null

clean:
	rm -rf bin reports/latest reports/test reports/test-docker

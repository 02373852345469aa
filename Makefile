# chaoslab — reproduce production incidents on purpose, prove them with assertions.
#
#   make scenario   run the scenario catalog (embedded backend by default)
#   make test       run every test
#
# Variables: SCENARIO=<ginkgo label filter> (e.g. faults, 'gateway && !504-slow-upstream'),
# BACKEND=embedded|docker, CLUSTER=kwok|node|kind|existing|none (default: kwok when
# `make k8s-tools` has built it, else none), REPORT_DIR=reports/latest.

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

.PHONY: scenario test unit catalog catalog-docker catalog-node lint bench build k8s-tools doctor clean help

help:
	@sed -n '2,9p' Makefile | sed 's/^# \{0,1\}//'

## scenario: run the catalog; writes junit.xml, results.json and index.html to REPORT_DIR.
scenario: $(if $(filter kwok node,$(CLUSTER)),k8s-tools)
	@mkdir -p $(REPORT_DIR)
	$(GINKGO) $(if $(SCENARIO),--label-filter='$(SCENARIO)') --junit-report=junit.xml \
		--output-dir=$(REPORT_DIR) --keep-going --timeout=60m $(GINKGO_OPTS) ./scenarios/suite

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

# The autoscaling family on real pods: a real kubelet and containerd in a
# network namespace of the run (needs root; `make k8s-tools` installs the
# Debian packages). Skipped with the reason when the node cannot run.
catalog-node:
	$(MAKE) --no-print-directory scenario CLUSTER=node SCENARIO=autoscaling REPORT_DIR=reports/test-node

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
	rm -rf bin reports/latest reports/test reports/test-docker reports/test-node

# chaoslab — reproduce production incidents on purpose, prove them with assertions.
#
#   make scenario   run the scenario catalog (embedded backend by default)
#   make test       run every test
#
# Variables: SCENARIO=<ginkgo label filter> (e.g. faults, 'gateway && !504-slow-upstream'),
# BACKEND=embedded|docker, GATEWAY=emulation|kong (kong: real Kong 3.9.1, `make kong`),
# CLUSTER=kwok|node|kind|existing|none (default: kwok when `make k8s-tools` has built
# it, else none), REPORT_DIR=reports/latest,
# PARALLEL=<scenarios at a time> (default: four per core, one on docker; 1 = serial).
# Other targets: kong, conformance, fuzz, flake, soak, bench, doctor (see README).

SHELL       := /bin/bash
GO          ?= go
SCENARIO    ?=
BACKEND     ?= embedded
GATEWAY     ?=
REPORT_DIR  ?= reports/latest
CLUSTER     ?=
GINKGO_OPTS ?=

export CHAOSLAB_BACKEND    := $(BACKEND)
export CHAOSLAB_GATEWAY    := $(GATEWAY)
export CHAOSLAB_REPORT_DIR := $(abspath $(REPORT_DIR))
export CHAOSLAB_CLUSTER    := $(CLUSTER)
export PARALLEL

.PHONY: scenario test unit fuzz-smoke conformance catalog catalog-kong catalog-docker catalog-node \
	flake fuzz soak lint bench build k8s-tools kong doctor clean help

help:
	@sed -n '2,11p' Makefile | sed 's/^# \{0,1\}//'

## scenario: run the catalog; writes junit.xml, results.json and index.html to REPORT_DIR.
## PARALLEL scenarios at a time (default four per core, one on docker; PARALLEL=1 is serial).
scenario: $(if $(filter kwok node,$(CLUSTER)),k8s-tools) $(if $(filter kong,$(GATEWAY)),kong)
	@scripts/catalog.sh $(REPORT_DIR) $(if $(SCENARIO),--label-filter='$(SCENARIO)') $(GINKGO_OPTS)

## test: lint, the tools (kwok control plane and kubelet: about 9 minutes cold on
## 2 cores; real Kong: make kong), unit and integration tests, the fuzz targets'
## corpora and a few seconds of each, the Kong differential suite, then the
## catalog: embedded with kwok, the gateway and lb families on real Kong, faults,
## gateway and lb on docker, the autoscaling family on real pods.
test: lint k8s-tools kong unit fuzz-smoke conformance catalog catalog-kong catalog-docker catalog-node

unit:
	$(GO) test -count=1 -timeout=20m $$($(GO) list ./... | grep -v -e /scenarios/suite -e /conformance -e /soak)

# Each fuzz target for 1,000 executions (their seed corpora already ran in
# unit): a count, not a duration, which Go 1.26's fuzz coordinator can fail
# at its deadline without any input (go.dev/issue/75804; see scripts/fuzz.sh).
fuzz-smoke:
	@FUZZTIME=1000x scripts/fuzz.sh

## conformance: one request matrix against the emulation and real Kong with the
## same kong.yml and upstreams; report in reports/conformance/index.html and
## index.json. Without a real Kong build the differential test skips with
## "real Kong not built: run make kong"; the emulation's self-check still runs.
conformance:
	$(GO) test -count=1 -timeout=15m -v ./conformance/

# The catalog runs by itself (not beside the unit tests) so its ratios are
# measured on a machine doing nothing else; its report goes to reports/test.
catalog:
	$(MAKE) --no-print-directory scenario REPORT_DIR=reports/test CLUSTER=$(or $(CLUSTER),kwok)

# The gateway and lb families on real Kong (a host process built by make kong).
catalog-kong:
	$(MAKE) --no-print-directory scenario GATEWAY=kong SCENARIO='gateway || lb' CLUSTER=none REPORT_DIR=reports/test-kong

# The faults, gateway and lb families again on containers (real Kong from the
# local image); skipped with the command to run when no docker daemon is
# reachable (.ci/run starts one).
catalog-docker:
	$(MAKE) --no-print-directory scenario BACKEND=docker SCENARIO='faults || gateway || lb' CLUSTER=none REPORT_DIR=reports/test-docker

# The autoscaling family on real pods: a real kubelet and containerd in a
# network namespace of the run (needs root; `make k8s-tools` installs the
# Debian packages). Skipped with the reason when the node cannot run.
catalog-node:
	$(MAKE) --no-print-directory scenario CLUSTER=node SCENARIO=autoscaling REPORT_DIR=reports/test-node

## flake: the catalog N times (HOG=1: with a busy loop on one core); pass
## rates, slowest phases and failures in reports/flake/flake.md.
N   ?= 10
HOG ?= 0
flake: $(if $(filter kwok node,$(CLUSTER)),k8s-tools) $(if $(filter kong,$(GATEWAY)),kong)
	@N=$(N) HOG=$(HOG) OUT=reports/flake scripts/flake.sh $(if $(SCENARIO),--label-filter='$(SCENARIO)') $(GINKGO_OPTS)

## soak: a lab under load for DURATION (default 10m; GATEWAY=kong for real
## Kong): resources of every lab process must stay flat; report in reports/soak.
DURATION ?= 10m
soak: $(if $(filter kong,$(GATEWAY)),kong)
	CHAOSLAB_SOAK_DURATION=$(DURATION) CHAOSLAB_REPORT_DIR=$(abspath reports/soak) \
		$(GO) test -count=1 -run TestSoak -timeout 3h -v ./soak/

## fuzz: every fuzz target for FUZZTIME (default 60s) each.
FUZZTIME ?= 60s
fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## bench: lab start time, injected-latency accuracy, recorder vs raw vegeta, gateway vs nginx,
## real Kong vs the emulation vs nginx (skipped with a reason until make kong).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 20x -count 1 ./lab/ ./lab/docker/
	$(GO) test -run '^$$' -bench . -count 1 ./load/
	$(GO) test -run '^$$' -bench BenchmarkGateway -benchtime 1x -timeout 10m ./fakes/kong/
	$(GO) test -run '^$$' -bench BenchmarkRealKong -benchtime 1x -timeout 10m ./lab/internal/realkong/

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/chaoslab ./cmd/chaoslab

doctor: build
	bin/chaoslab doctor

k8s-tools:
	@scripts/k8s-tools.sh >/dev/null

## kong: build real Kong 3.9.1 from ../shared/vendor/kong-3.9.1 + Debian packages
## (cached in ~/.cache/chaoslab/kong-3.9.1-<key>; image chaoslab/kong:3.9.1-local
## too when a Docker daemon answers). Prints the install dir.
kong:
	@scripts/kong.sh

clean:
	rm -rf bin reports/latest reports/test reports/test-* reports/conformance reports/flake reports/soak

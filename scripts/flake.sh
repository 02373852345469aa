#!/usr/bin/env bash
# flake.sh runs the catalog N times and writes a table of pass rates per
# scenario, the slowest phases and every failure message to OUT/flake.md
# (and flake.json). With HOG=1 a busy loop occupies one core for the whole
# campaign: verdicts must hold on a machine doing other work.
#
# Usage: N=10 HOG=1 OUT=reports/flake scripts/flake.sh [ginkgo flags...]
# (make flake N=10 HOG=1 SCENARIO=... CLUSTER=...). Exit 0 only when every
# scenario passed (or skipped) in every run.
set -uo pipefail

n=${N:-10}
out=${OUT:-reports/flake}
if ! [[ "${n}" =~ ^[1-9][0-9]*$ ]]; then
	echo "flake.sh: N=${n}: want a whole number >= 1" >&2
	exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
rm -rf "${out}"
mkdir -p "${out}"

hog_pid=""
stop_hog() { [[ -n "${hog_pid}" ]] && kill "${hog_pid}" 2>/dev/null && wait "${hog_pid}" 2>/dev/null; hog_pid=""; }
trap stop_hog EXIT
if [[ "${HOG:-0}" == 1 ]]; then
	# One core busy, bounded: it can never outlive a forgotten campaign by
	# more than its own time limit (two hours), and the trap stops it.
	timeout 7200 bash -c 'while :; do :; done' &
	hog_pid=$!
	echo "flake.sh: busy loop on one core (pid ${hog_pid}) for the whole campaign"
fi

start=$(date +%s)
for i in $(seq 1 "${n}"); do
	echo "== run ${i}/${n}"
	scripts/catalog.sh "${out}/run-${i}" "$@" | grep -E '^(FAIL|chaoslab:)' || true
done
stop_hog
echo "flake.sh: ${n} runs in $(($(date +%s) - start)) s"
go run ./cmd/chaoslab flake --runs "${out}" $([[ "${HOG:-0}" == 1 ]] && echo --hog)

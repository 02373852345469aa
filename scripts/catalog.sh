#!/usr/bin/env bash
# catalog.sh runs the scenario catalog under Ginkgo and shows one line per
# scenario as it finishes (verdict, id, duration, and the reason of a failure
# or skip), then the report's path. Ginkgo's own output goes to
# REPORT_DIR/ginkgo.log; on a failure its summary is printed too.
#
# Scenarios run PARALLEL at a time (default: four per core, since most of a
# scenario is waiting on paced load; one per core on BACKEND=docker, where
# starting containers and Kong in them is the scenario's own CPU work). Those that declare RunsAlone, and the
# cluster scenarios on CLUSTER=node (one real kubelet), run afterwards, one at
# a time (Ginkgo's Serial); on CLUSTER=kwok the cluster scenarios run in
# parallel, each in its own namespace of the run's one cluster. PARALLEL=1
# runs everything one after another.
#
# Usage: scripts/catalog.sh REPORT_DIR [ginkgo flags...]   (make scenario calls it)
set -uo pipefail

report_dir=${1:?usage: scripts/catalog.sh REPORT_DIR [ginkgo flags...]}
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
mkdir -p "${report_dir}"
report_dir="$(cd "${report_dir}" && pwd)"

per_core=4
if [ "${CHAOSLAB_BACKEND:-embedded}" = docker ]; then
	per_core=1
fi
parallel=${PARALLEL:-$(($(nproc) * per_core))}
if ! [[ "${parallel}" =~ ^[1-9][0-9]*$ ]]; then
	echo "catalog.sh: PARALLEL=${parallel}: want a whole number >= 1" >&2
	exit 2
fi
procs=()
if ((parallel > 1)); then
	procs=(-p "--procs=${parallel}")
fi

export CHAOSLAB_PROGRESS="${report_dir}/progress.log"
export CHAOSLAB_REPORT_DIR="${report_dir}"
: >"${CHAOSLAB_PROGRESS}"
log="${report_dir}/ginkgo.log"

start=$(date +%s)
echo "chaoslab: catalog on backend ${CHAOSLAB_BACKEND:-embedded}${CHAOSLAB_CLUSTER:+, cluster ${CHAOSLAB_CLUSTER}}, ${parallel} at a time; Ginkgo's log: ${log}"
# Ginkgo is compiled first (go tool), so its own start takes a moment. It
# runs in a process group of its own (setsid), so one SIGINT reaches Ginkgo
# and all its test processes together however this script was stopped: Ctrl-C
# (the terminal's INT reaches this script) or a TERM to the script alone (CI
# cancelling the job); the Ginkgo CLI does not forward a SIGINT sent to it
# alone, and a second one would make it skip its cleanup. Either way the
# script stays to print what Ginkgo reports while the labs close.
setsid go tool ginkgo "${procs[@]}" --junit-report=junit.xml --output-dir="${report_dir}" \
	--keep-going --timeout=60m --no-color "$@" ./scenarios/suite >"${log}" 2>&1 &
ginkgo=$!
interrupted=
interrupt() {
	echo "chaoslab: $1, waiting for the labs to close..."
	if [ -z "${interrupted}" ]; then
		interrupted=1
		kill -INT -- "-${ginkgo}" 2>/dev/null
	fi
}
trap 'interrupt interrupted' INT
trap 'interrupt terminated' TERM

tail -n +1 -F --pid="${ginkgo}" "${CHAOSLAB_PROGRESS}" 2>/dev/null &
tailer=$!
rc=0
wait "${ginkgo}" || rc=$?
while kill -0 "${ginkgo}" 2>/dev/null; do wait "${ginkgo}" || rc=$?; done
wait "${tailer}" 2>/dev/null

if ((rc != 0)); then
	# Ginkgo's failure summary (or its last lines when it did not get there).
	if grep -q '^Summarizing' "${log}"; then
		sed -n '/^Summarizing/,$p' "${log}"
	else
		tail -n 40 "${log}"
	fi
fi
if ! grep -E '^\s*chaoslab: [0-9]+ passed' "${log}" | tail -n 1 | sed 's/^[[:space:]]*//' | grep .; then
	echo "chaoslab: FAILED: the catalog did not report (the suite did not build or stopped early; see above and ${log})"
	((rc != 0)) || rc=1
fi
echo "chaoslab: catalog took $(($(date +%s) - start)) s; report: ${report_dir}/index.html"
exit "${rc}"

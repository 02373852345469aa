#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target (func FuzzXxx) in the module for FUZZTIME
# each (default 60s), one after another. A failing input is written by Go
# under the package's testdata/fuzz/FuzzXxx/ : fix the bug and commit the
# input, so `go test` replays it forever after.
#
# FUZZTIME is a duration (60s) or a number of executions (1000x, what
# `make test` uses: a count has no deadline to race, see below).
#
# Go 1.26's fuzz coordinator can fail a target at the end of a duration-based
# -fuzztime with a bare "context deadline exceeded" and no input: a race
# between its deadline and a worker still running (go.dev/issue/75804, fixed
# in Go 1.27). Such a run wrote no failing input, so there is nothing to
# reproduce or fix: it is reported as spurious, not as a failure. Any other
# failure, or one that wrote an input, fails the run.
#
# Usage: FUZZTIME=60s scripts/fuzz.sh   (make fuzz)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime=${FUZZTIME:-60s}

failed=()
spurious=()
count=0
# inputs counts the failing inputs Go has written for a target.
inputs() { if [[ -d "$1" ]]; then find "$1" -type f | wc -l; else echo 0; fi; }
log=$(mktemp)
trap 'rm -f "${log}"' EXIT
start=$(date +%s)
# Targets are found by name in the committed test files: compiling every
# package's tests just to list them would take longer than fuzzing some.
while read -r file target; do
	pkg=./$(dirname "${file}")
	{
		count=$((count + 1))
		echo "== ${target} (${pkg}) for ${fuzztime}"
		corpus=${pkg}/testdata/fuzz/${target}
		inputs_before=$(inputs "${corpus}")
		# -parallel 2: this is a 2-core machine; the fuzz workers are the load.
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "${fuzztime}" -parallel 2 "${pkg}" 2>&1 |
			tee "${log}" | grep -v '^fuzz: elapsed'; then
			inputs_after=$(inputs "${corpus}")
			if [[ "${inputs_after}" == "${inputs_before}" ]] &&
				[[ "$(grep -A1 -E "^--- FAIL: ${target} " "${log}" | tail -1)" == "    context deadline exceeded" ]] &&
				[[ "$(grep -c -E '^--- FAIL' "${log}")" == 1 ]]; then
				echo "fuzz.sh: ${target}: spurious end-of-fuzztime failure of Go's fuzz coordinator (go.dev/issue/75804): no failing input was written"
				spurious+=("${target} (${pkg})")
			else
				failed+=("${target} (${pkg})")
			fi
		fi
	}
done < <(git grep -E '^func Fuzz[A-Za-z0-9_]+\(' -- '*_test.go' | sed -E 's/^([^:]+):func (Fuzz[A-Za-z0-9_]+)\(.*/\1 \2/')
echo "fuzz.sh: ${count} targets, ${#failed[@]} failed, ${#spurious[@]} spurious (go.dev/issue/75804), $(($(date +%s) - start)) s"
if ((${#spurious[@]})); then
	printf 'spurious: %s\n' "${spurious[@]}"
fi
if ((${#failed[@]})); then
	printf 'failed: %s\n' "${failed[@]}"
	exit 1
fi

#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target (func FuzzXxx) in the module for FUZZTIME
# each (default 60s), one after another. A failing input is written by Go
# under the package's testdata/fuzz/FuzzXxx/ : fix the bug and commit the
# input, so `go test` replays it forever after.
#
# Usage: FUZZTIME=60s scripts/fuzz.sh   (make fuzz)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime=${FUZZTIME:-60s}

failed=()
count=0
start=$(date +%s)
# Targets are found by name in the committed test files: compiling every
# package's tests just to list them would take longer than fuzzing some.
while read -r file target; do
	pkg=./$(dirname "${file}")
	{
		count=$((count + 1))
		echo "== ${target} (${pkg}) for ${fuzztime}"
		# -parallel 2: this is a 2-core machine; the fuzz workers are the load.
		if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "${fuzztime}" -parallel 2 "${pkg}" 2>&1 |
			grep -v '^fuzz: elapsed'; then
			failed+=("${target} (${pkg})")
		fi
	}
done < <(git grep -E '^func Fuzz[A-Za-z0-9_]+\(' -- '*_test.go' | sed -E 's/^([^:]+):func (Fuzz[A-Za-z0-9_]+)\(.*/\1 \2/')
echo "fuzz.sh: ${count} targets, ${#failed[@]} failed, $(($(date +%s) - start)) s"
if ((${#failed[@]})); then
	printf 'failed: %s\n' "${failed[@]}"
	exit 1
fi

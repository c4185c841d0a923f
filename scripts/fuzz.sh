#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME (default 5s) each.
# Targets are discovered, so a new Fuzz function is fuzzed without editing this.
#
# A target fails the run when go test fails with a failing input written to
# testdata/fuzz/<Target>/, or for any reason other than the one known Go
# coordinator race: with a duration -fuzztime, Go 1.26's coordinator can
# report "context deadline exceeded" at the deadline on a loaded machine
# without having found anything (go.dev/issue/75804, fixed in Go 1.27). That
# case alone is replayed: the target's corpus runs deterministically
# (go test -run ^Target$), and only if the replay passes is the run counted
# as the race and reported as such.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-5s}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
races=0
while read -r file; do
	pkg="./$(dirname "${file#./}")"
	while read -r target; do
		echo "fuzz: $pkg $target for $fuzztime"
		corpus="$(dirname "$file")/testdata/fuzz/$target"
		before="$(ls "$corpus" 2>/dev/null | sort || true)"
		status=0
		go test -short -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log" || status=$?
		[ "$status" -eq 0 ] && continue
		after="$(ls "$corpus" 2>/dev/null | sort || true)"
		if [ "$before" != "$after" ]; then
			echo "fuzz: $pkg $target wrote a failing input to $corpus" >&2
			exit 1
		fi
		if ! grep -q '^    context deadline exceeded$' "$log" || grep -qE '^\s+(Failing input written|panic:)' "$log"; then
			echo "fuzz: $pkg $target failed" >&2
			exit 1
		fi
		echo "fuzz: $pkg $target stopped with Go's coordinator deadline race (go.dev/issue/75804) and wrote no input; replaying its corpus"
		go test -short -count=1 -run "^${target}\$" "$pkg"
		races=$((races + 1))
	done < <(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //')
done < <(grep -rE --include='*_test.go' -l '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --exclude-dir=node_modules --exclude-dir=cdk.out . | sort)
echo "fuzz: done ($races target(s) hit the coordinator deadline race and replayed clean)"

#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME (default 5s) each.
# Targets are discovered, so a new Fuzz function is fuzzed without editing this.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-5s}"
grep -rE --include='*_test.go' -l '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' --exclude-dir=node_modules --exclude-dir=cdk.out . |
	sort | while read -r file; do
		pkg="./$(dirname "${file#./}")"
		grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r target; do
			echo "fuzz: $pkg $target for $fuzztime"
			go test -short -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
		done
	done

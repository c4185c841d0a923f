#!/usr/bin/env bash
# Lints CloudFormation templates with cfn-lint (1.51.0 in CI; .ci/run
# installs it where missing). Any error or warning fails: fix the template, or
# suppress the rule on the resource in its metadata
# (Metadata: cfn-lint: config: ignore_checks) with a one-line reason next to
# the code that emits it.
#
# The stack is environment-agnostic, so it is checked against the Regions of
# the worked example (ap-southeast-1) and the CLI's default (us-east-1).
#
# Usage: infra/cfnlint.sh TEMPLATE...
set -euo pipefail
if [ $# -eq 0 ]; then
	echo "usage: infra/cfnlint.sh TEMPLATE..." >&2
	exit 2
fi
if ! command -v cfn-lint >/dev/null; then
	echo "cfn-lint is not installed: python3 -m pip install cfn-lint==1.51.0 (.ci/run does)" >&2
	exit 1
fi
echo "$(cfn-lint --version) on $#: $*" >&2
exec cfn-lint --format parseable --non-zero-exit-code warning --regions ap-southeast-1 us-east-1 --template "$@"

#!/usr/bin/env bash
# Offline `cdk synth` of the ecrwarden stack through the pinned aws-cdk CLI
# (package.json), then cfn-lint on the result (infra/cfnlint.sh: any error or
# warning fails). Writes cdk.out/<stackName>.template.json
# (cdk.out/ecrwarden.template.json by default). Extra arguments go to the
# CLI, e.g. infra/synth.sh -c dryRun=true -c policy=other.yaml
#
# The template is environment-agnostic whatever machine synthesizes it: the
# CLI exports CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION from the credentials it
# finds (us-east-1 when there are none) and the app ignores them; only the
# context keys account and region pin the stack.
#
# Offline: notices, telemetry and the version check are off (cdk.json and the
# variables below); the CLI is run from node_modules, never fetched by npx.
# Bundling runs `go build` for functions/onpush, onscan and gc (linux/arm64),
# so those packages must exist.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x node_modules/.bin/cdk ]; then
	npm ci --no-audit --no-fund --loglevel=error
fi

export CDK_DISABLE_CLI_TELEMETRY=true
export CDK_DISABLE_VERSION_CHECK=1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
# ~/.cdk follows the account's home, not $HOME: keep the CLI's cache here.
export CDK_HOME="${CDK_HOME:-$PWD/.cache/cdk}"

# A template left by an earlier synth under another stack name would be
# linted (and taken for this one's) otherwise.
rm -f cdk.out/*.template.json
node_modules/.bin/cdk synth -q --no-notices "$@"
shopt -s nullglob
templates=(cdk.out/*.template.json)
if [ ${#templates[@]} -eq 0 ]; then
	echo "synth wrote no template" >&2
	exit 1
fi
infra/cfnlint.sh "${templates[@]}"
echo "wrote and linted ${templates[*]}"

#!/usr/bin/env bash
# Offline `cdk synth` of the ecrwarden stack through the pinned aws-cdk CLI
# (package.json). Writes cdk.out/ecrwarden.template.json. Extra arguments go
# to the CLI, e.g. infra/synth.sh -c dryRun=true -c policy=other.yaml
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

node_modules/.bin/cdk synth -q --no-notices "$@"
test -s cdk.out/ecrwarden.template.json
echo "wrote cdk.out/ecrwarden.template.json"

// Package policy loads and validates ecrwarden's policy file: which ECR
// repositories are guarded, their tag rules, vulnerability thresholds and
// ignore lists, retention rules for gc, and the Deployments that pushes roll
// forward.
//
// Loading is strict: unknown keys, wrong types, duplicate entries, empty
// patterns, rules that can never match or have no effect, negative counts,
// unknown severities and unparseable durations are all errors. Every error
// names the file, line, column and field path, and all of them are reported
// together; a broken file never half-loads.
//
// Tag patterns ("v{semver}", "dev-{sha}", "v{date}-{sha}", "feature-*-{sha}")
// compile once to RE2 expressions and match in linear time; semver values are
// parsed strictly with Masterminds/semver after the pattern has classified
// the tag, so an all-digit short sha is never mistaken for a version.
package policy

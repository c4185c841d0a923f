// Package eventpattern matches events against Amazon EventBridge event patterns, so the
// demo and the end-to-end tests route an emulated event to a function only when the very
// pattern object the CDK stack declares would match it in EventBridge.
//
// A pattern is the JSON form EventBridge takes (or its json-decoded map[string]any form).
// Every leaf of a pattern is an array of alternatives; an event field matches when any
// alternative matches it, and an event matches when every field of the pattern matches
// ("and" across fields, "or" within a field). Supported alternatives:
//
//   - exact values: strings, numbers (compared numerically), true, false, null
//   - {"prefix": "s"}, {"prefix": {"equals-ignore-case": "s"}}
//   - {"suffix": "s"}, {"suffix": {"equals-ignore-case": "s"}}
//   - {"equals-ignore-case": "s"}
//   - {"wildcard": "a*b"} (\* is a literal star, \\ a literal backslash)
//   - {"anything-but": "s" | 1 | ["s", ...] | [1, ...] | {"prefix": "s"} | {"suffix": "s"} |
//     {"equals-ignore-case": "s" | ["s", ...]} | {"wildcard": "s" | ["s", ...]}}
//   - {"numeric": [">", 0, "<=", 5]} and the other comparison operators
//   - {"exists": true | false} (on leaf fields; an object is not a leaf)
//   - {"cidr": "10.0.0.0/24"} for IPv4 and IPv6 addresses
//   - "$or": [pattern, ...] at any object level
//
// Event arrays match when any element matches, and a nested pattern applied to an array
// of objects must match within a single element. Invalid patterns are rejected by
// Compile with an error that names the path of the offending value.
package eventpattern

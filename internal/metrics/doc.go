// Package metrics records what the functions did as CloudWatch metrics in
// the Embedded Metric Format (EMF): one JSON log line per set of dimension
// values, written to the function's log stream, from which CloudWatch Logs
// extracts the metrics. No CloudWatch API is called and no permission is
// needed beyond writing logs.
//
// The vocabulary is fixed here, in Definitions: every metric name, its unit,
// its dimension keys and the values each key may take. The CDK stack's
// dashboard is built from the same constants, so a renamed metric fails the
// stack tests, and a dimension value outside its list (a digest, a tag, a
// repository name) is refused at the call site, so no series can explode
// in cardinality.
//
// A Recorder is created once per process (cold start) and flushed at the end
// of every invocation (Wrap, WrapError): counters recorded during the
// invocation are summed into one value per series, distributions (latencies)
// keep every observation as an EMF value array. A nil *Recorder records
// nothing, so handler tests that do not look at metrics need none.
//
// Parse reads an EMF document back and checks it against the specification
// (the _aws metadata, the Namespace, the dimension sets of at most 9 keys,
// at most 100 metric definitions per directive, target members on the root
// that are strings for dimensions and numbers or arrays of at most 100
// numbers for metrics, valid units). Collector applies Parse to function
// logs line by line: the demo and the sandbox use it to show locally what
// the dashboard will plot.
//
// Why not a library: of the Go EMF libraries, the one maintained in 2026
// (dangrier/aws-embedded-metrics-golang) requires Go 1.27; its parent
// prozz/aws-embedded-metrics-golang has had no release since 2021 and
// enforces none of the format's limits; udhos/aws-emf pulls in the
// CloudWatch Logs client of an older SDK and re-emits stale values unless
// reset; FollowTheProcess/metrics (v0.2) allows one dimension set per
// logger. None validates dimension values against a fixed vocabulary,
// which is what keeps ours low-cardinality. The writer here is a small
// layer over log/slog's JSON handler (one Write per line, as the function's
// other logs) and Parse is its test oracle.
package metrics

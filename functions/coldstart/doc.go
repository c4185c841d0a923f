// Package coldstart holds the cold-start benchmark of the three functions:
// each is started as Lambda starts it, through internal/testenv's Runtime
// API, beside a minimal aws-lambda-go function (testdata/minimal) in the
// same run (and beside testdata/sdkonly, the minimal function with the AWS
// SDK configuration and clients every function builds, which tells the
// SDK's share from ecrwarden's), and its init time is reported as a ratio
// to the minimal one's, since absolute times on shared machines vary two
// to three times between runs. See BenchmarkColdStart.
package coldstart

// Package demo plays the story `make demo` narrates, on the sandbox: CI
// pushes v1.0.0 and the Deployment is patched to its digest once the scan
// comes back clean; a push of Feature_X is rejected and alerted; v1.1.0
// carries a CRITICAL CVE, so it alerts and its rollout is blocked; v1.1.1
// is clean and rolls out; then gc runs over a seeded history of dozens of
// images. Run returns what happened as data, so the end-to-end test asserts
// outcomes while the command prints the narration.
package demo

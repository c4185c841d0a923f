package sandbox_test

import (
	"context"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/sandbox"
)

// BenchmarkScenarios runs the whole scenario set with IAM enforcement on and off, in
// the same run, so the cost of authorizing every call reads as a ratio.
func BenchmarkScenarios(b *testing.B) {
	if cluster == nil {
		b.Skip("needs the control plane (skipped with -short)")
	}
	tmpl, err := sandbox.ScenarioTemplate(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		off  bool
	}{{"iam=on", false}, {"iam=off", true}} {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				for _, s := range sandbox.Scenarios {
					res, err := sandbox.RunScenario(context.Background(), cluster, s, sandbox.ScenarioOptions{Template: tmpl, IAMOff: mode.off})
					if err != nil {
						b.Fatal(err)
					}
					if res.Err != nil {
						b.Fatalf("%s: %v", s.Name, res.Err)
					}
				}
			}
		})
	}
}

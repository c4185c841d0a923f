package integration

import (
	"os"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/sandbox"
)

// cluster is the package's control plane (with moto beside it); nil with -short.
var cluster *sandbox.Cluster

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, "retail-forecast", func(c *sandbox.Cluster) { cluster = c }))
}

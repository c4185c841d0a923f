package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// kube is the control plane shared by the tests of this package; nil with -short.
var kube *Kube

func TestMain(m *testing.M) {
	// The package's control plane runs the controllers and kwok (rollout_test.go); the
	// API-server-only start is measured by BenchmarkKubeStart and TestStartKubeOptions.
	code := RunWithKubeOptions(m, KubeOptions{Controllers: &ControllerOptions{}}, func(k *Kube) { kube = k })
	if echoBin.path != "" {
		os.RemoveAll(filepath.Dir(echoBin.path))
	}
	os.Exit(code)
}

func needKube(t testing.TB) *Kube {
	t.Helper()
	RequireControlPlane(t, kube != nil)
	return kube
}

var echoBin struct {
	once sync.Once
	path string
	err  error
}

// echoBinary builds testdata/echofn once per test binary.
func echoBinary(t testing.TB) string {
	t.Helper()
	echoBin.once.Do(func() {
		echoBin.path, echoBin.err = BuildFunction(context.Background(), ".", "./testdata/echofn")
	})
	if echoBin.err != nil {
		t.Fatal(fmt.Errorf("build echofn: %w", echoBin.err))
	}
	return echoBin.path
}

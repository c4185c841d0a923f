package sns

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// moto is moto_server in server mode, the second opinion on SNS
// (peer_test.go); nil in -short mode.
var moto *testenv.Moto

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	var err error
	if moto, err = testenv.StartMoto(context.Background(), testenv.MotoOptions{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := moto.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

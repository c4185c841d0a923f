package dynamodb

import (
	"os"
	"testing"

	"github.com/ecrwarden/ecrwarden/internal/testenv"
)

// moto is moto_server in server mode, the second opinion of peer_test.go;
// nil in -short mode.
var moto *testenv.Moto

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithMoto(m, func(mt *testenv.Moto) { moto = mt }))
}

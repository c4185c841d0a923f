package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
)

// RunWithMoto is a TestMain helper: it starts one moto_server for the tests
// of a package, hands it to set, runs the tests and stops it, returning the
// exit code for os.Exit:
//
//	var moto *testenv.Moto
//
//	func TestMain(m *testing.M) {
//		os.Exit(testenv.RunWithMoto(m, func(mt *testenv.Moto) { moto = mt }))
//	}
//
// With -short it starts nothing and calls set(nil); tests then skip what
// needs moto. Otherwise a moto that cannot start (not installed) fails the
// package.
func RunWithMoto(m *testing.M, set func(*Moto)) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		set(nil)
		return m.Run()
	}
	mt, err := StartMoto(context.Background(), MotoOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := mt.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	set(mt)
	return m.Run()
}

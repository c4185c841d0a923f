// Command echofn is a tiny Lambda function for the testenv runtime tests: it echoes its
// input with the invocation metadata, and fails, sleeps, panics or exits on demand.
// With ECHOFN_INIT_ERROR set it reports an init error to the Runtime API and exits,
// as a custom runtime does when its initialisation fails.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Echo    any    `json:"echo"`
	Error   string `json:"error"`
	SleepMS int    `json:"sleepMs"`
	Panic   string `json:"panic"`
	Exit    int    `json:"exit"`
	// Log is written to stderr, then to stdout, before answering.
	Log string `json:"log"`
}

type response struct {
	Echo         any    `json:"echo"`
	RequestID    string `json:"requestId"`
	FunctionARN  string `json:"functionArn"`
	FunctionName string `json:"functionName"`
	HasDeadline  bool   `json:"hasDeadline"`
	Invocations  int    `json:"invocations"`
}

type echoError struct{ msg string }

func (e echoError) Error() string { return e.msg }

var invocations int

func handle(ctx context.Context, req request) (response, error) {
	invocations++
	lc, _ := lambdacontext.FromContext(ctx)
	if req.Log != "" {
		fmt.Fprintf(os.Stderr, "echofn log: %s\n", req.Log)
		fmt.Fprintf(os.Stdout, "echofn stdout: %s\n", req.Log)
	}
	if req.SleepMS > 0 {
		time.Sleep(time.Duration(req.SleepMS) * time.Millisecond) // a call stuck past the deadline
	}
	switch {
	case req.Panic != "":
		panic(req.Panic)
	case req.Exit != 0:
		os.Exit(req.Exit)
	case req.Error != "":
		return response{}, echoError{req.Error}
	}
	_, hasDeadline := ctx.Deadline()
	resp := response{Echo: req.Echo, FunctionName: lambdacontext.FunctionName, HasDeadline: hasDeadline, Invocations: invocations}
	if lc != nil {
		resp.RequestID, resp.FunctionARN = lc.AwsRequestID, lc.InvokedFunctionArn
	}
	return resp, nil
}

func main() {
	if msg := os.Getenv("ECHOFN_INIT_ERROR"); msg != "" {
		if err := postInitError(msg); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
	fmt.Println("echofn: init")
	lambda.Start(handle)
}

func postInitError(msg string) error {
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	body := fmt.Sprintf(`{"errorMessage": %q, "errorType": "EchoInitError"}`, msg)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.EchoInitError")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return errors.New("init/error: " + resp.Status)
	}
	return nil
}

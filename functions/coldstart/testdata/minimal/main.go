// Command minimal is the baseline of the cold-start benchmark: the smallest
// aws-lambda-go function, which does nothing at init and answers nil.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, json.RawMessage) error { return nil })
}

// Command sdkonly is the second reference of the cold-start benchmark: the
// minimal function plus what every ecrwarden function links and builds at
// init from the AWS SDK (the default configuration and the clients of the
// six services the functions share), and nothing of ecrwarden. The gap
// between it and a function is ecrwarden's own init.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		panic(err)
	}
	_ = dynamodb.NewFromConfig(cfg)
	_ = ecr.NewFromConfig(cfg)
	_ = eks.NewFromConfig(cfg)
	_ = eventbridge.NewFromConfig(cfg)
	_ = secretsmanager.NewFromConfig(cfg)
	_ = sns.NewFromConfig(cfg)
	lambda.Start(func(context.Context, json.RawMessage) error { return nil })
}

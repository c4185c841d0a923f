package ecrevent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/go-cmp/cmp"
)

func TestOriginFromFunctionARN(t *testing.T) {
	tests := []struct {
		arn      string
		want     Origin
		wantHost string
		wantErr  string
	}{
		{arn: "arn:aws:lambda:ap-southeast-1:123456789012:function:ecrwarden-onpush",
			want: Origin{Partition: "aws", Account: "123456789012", Region: "ap-southeast-1"}, wantHost: "123456789012.dkr.ecr.ap-southeast-1.amazonaws.com"},
		{arn: "arn:aws:lambda:eu-west-1:123456789012:function:onscan:live",
			want: Origin{Partition: "aws", Account: "123456789012", Region: "eu-west-1"}, wantHost: "123456789012.dkr.ecr.eu-west-1.amazonaws.com"},
		{arn: "arn:aws-cn:lambda:cn-north-1:123456789012:function:onpush",
			want: Origin{Partition: "aws-cn", Account: "123456789012", Region: "cn-north-1"}, wantHost: "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"},
		{arn: "arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:onpush",
			want: Origin{Partition: "aws-us-gov", Account: "123456789012", Region: "us-gov-west-1"}, wantHost: "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com"},
		{arn: "", wantErr: "is not arn:"},
		{arn: "arn:aws:lambda:ap-southeast-1:123456789012:layer:x", wantErr: "is not arn:"},
		{arn: "arn:aws:sqs:ap-southeast-1:123456789012:function:x", wantErr: "is not arn:"},
		{arn: "arn:aws:lambda:ap-southeast-1:12345:function:x", wantErr: "12-digit account"},
		{arn: "arn:aws:lambda:evil.example/#:123456789012:function:x", wantErr: "not an AWS Region"},
		{arn: "arn:mars:lambda:ap-southeast-1:123456789012:function:x", wantErr: "unknown partition"},
	}
	for _, tt := range tests {
		t.Run(tt.arn, func(t *testing.T) {
			got, err := OriginFromFunctionARN(tt.arn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("origin (-want +got):\n%s", diff)
			}
			if h := got.RegistryHost(); h != tt.wantHost {
				t.Errorf("RegistryHost = %s, want %s", h, tt.wantHost)
			}
		})
	}
}

func TestOriginFromContext(t *testing.T) {
	arn := "arn:aws:lambda:ap-southeast-1:123456789012:function:ecrwarden-onscan"
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: arn})
	if o, err := OriginFromContext(ctx, "ap-southeast-1"); err != nil || o.Account != "123456789012" {
		t.Errorf("OriginFromContext = %+v, %v", o, err)
	}
	if _, err := OriginFromContext(ctx, "eu-west-1"); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Errorf("a Region other than AWS_REGION: err = %v, want one naming AWS_REGION", err)
	}
	if _, err := OriginFromContext(context.Background(), "ap-southeast-1"); err == nil {
		t.Error("no Lambda context: no error, want one (the account is unknown)")
	}
}

func TestOriginCheck(t *testing.T) {
	o := Origin{Partition: "aws", Account: "123456789012", Region: "ap-southeast-1"}
	tests := []struct {
		name            string
		account, region string
		arn             *RepositoryARN
		wantErr         string
	}{
		{name: "ours", account: "123456789012", region: "ap-southeast-1"},
		{name: "foreign account", account: "210987654321", region: "ap-southeast-1", wantErr: `account "210987654321"`},
		{name: "foreign Region", account: "123456789012", region: "us-east-1", wantErr: `Region "us-east-1"`},
		{name: "empty account", account: "", region: "ap-southeast-1", wantErr: `account ""`},
		{name: "ARN ours", arn: &RepositoryARN{Partition: "aws", Account: "123456789012", Region: "ap-southeast-1", Name: "mlops/retail-api"}},
		{name: "ARN of another account", arn: &RepositoryARN{Partition: "aws", Account: "210987654321", Region: "ap-southeast-1", Name: "mlops/retail-api"}, wantErr: "account"},
		{name: "ARN of another partition", arn: &RepositoryARN{Partition: "aws-cn", Account: "123456789012", Region: "ap-southeast-1", Name: "mlops/retail-api"}, wantErr: "partition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.arn != nil {
				err = o.CheckARN("repository ARN", *tt.arn)
			} else {
				err = o.Check("envelope", tt.account, tt.region)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want ErrRefused containing %q", err, tt.wantErr)
			}
		})
	}
}

package ecrevent

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// ErrRefused reports an event that does not name our account, our Region
// or an image that exists in our registry. Retrying cannot make it valid:
// the functions log it, audit it and return nil.
var ErrRefused = errors.New("event refused")

// Origin is where a function runs: its partition, account and Region, taken
// from its own identity (the invoked function ARN and AWS_REGION), never from
// an event. It is the only registry whose events the function acts on, and
// the only registry host it writes into an image reference.
type Origin struct {
	Partition string
	Account   string
	Region    string
}

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-[0-9]+$`)
)

// dnsSuffix is the DNS suffix of each partition's service endpoints
// (botocore's endpoints.json "dnsSuffix"), which ECR registry hosts use.
var dnsSuffix = map[string]string{
	"aws":        "amazonaws.com",
	"aws-us-gov": "amazonaws.com",
	"aws-cn":     "amazonaws.com.cn",
	"aws-eusc":   "amazonaws.eu",
	"aws-iso":    "c2s.ic.gov",
	"aws-iso-b":  "sc2s.sgov.gov",
}

// OriginFromFunctionARN parses a Lambda function ARN,
// arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>].
func OriginFromFunctionARN(arn string) (Origin, error) {
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "lambda" || parts[5] != "function" || parts[6] == "" {
		return Origin{}, fmt.Errorf("invoked function ARN %q is not arn:<partition>:lambda:<region>:<account>:function:<name>", arn)
	}
	o := Origin{Partition: parts[1], Region: parts[3], Account: parts[4]}
	if err := o.validate(); err != nil {
		return Origin{}, fmt.Errorf("invoked function ARN %q: %w", arn, err)
	}
	return o, nil
}

// OriginFromContext returns the Origin of the running invocation: partition,
// account and Region from the invoked function ARN that the Lambda Runtime
// API hands the function (lambdacontext), which must agree with region, the
// function's AWS_REGION. Without them the function cannot tell its own
// registry from another: that is an error, never a guess.
func OriginFromContext(ctx context.Context, region string) (Origin, error) {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok || lc.InvokedFunctionArn == "" {
		return Origin{}, errors.New("no invoked function ARN in the Lambda context: the function's own account is unknown")
	}
	o, err := OriginFromFunctionARN(lc.InvokedFunctionArn)
	if err != nil {
		return Origin{}, err
	}
	if o.Region != region {
		return Origin{}, fmt.Errorf("invoked function ARN %q names Region %s but AWS_REGION is %q", lc.InvokedFunctionArn, o.Region, region)
	}
	return o, nil
}

// ValidAccount reports whether s is a 12-digit AWS account id.
func ValidAccount(s string) bool { return accountRE.MatchString(s) }

// ValidRegion reports whether s has the shape of an AWS Region name, such
// as ap-southeast-1 or us-gov-west-1.
func ValidRegion(s string) bool { return regionRE.MatchString(s) }

func (o Origin) validate() error {
	if _, ok := dnsSuffix[o.Partition]; !ok {
		return fmt.Errorf("unknown partition %q", o.Partition)
	}
	if !ValidRegion(o.Region) {
		return fmt.Errorf("%q is not an AWS Region", o.Region)
	}
	if !ValidAccount(o.Account) {
		return fmt.Errorf("%q is not a 12-digit account id", o.Account)
	}
	return nil
}

// RegistryHost is the host of our registry,
// <account>.dkr.ecr.<region>.<partition's DNS suffix>.
func (o Origin) RegistryHost() string {
	return o.Account + ".dkr.ecr." + o.Region + "." + dnsSuffix[o.Partition]
}

// RepositoryARN is the ARN of a repository of our registry.
func (o Origin) RepositoryARN(repository string) string {
	return RepositoryARN{Partition: o.Partition, Region: o.Region, Account: o.Account, Name: repository}.String()
}

// Check refuses (ErrRefused) an event whose account or Region is not ours.
// what names the field checked, such as "envelope" or "repository ARN".
func (o Origin) Check(what, account, region string) error {
	switch {
	case account != o.Account:
		return fmt.Errorf("%w: %s names account %q, not ours (%s)", ErrRefused, what, account, o.Account)
	case region != o.Region:
		return fmt.Errorf("%w: %s names Region %q, not ours (%s)", ErrRefused, what, region, o.Region)
	}
	return nil
}

// CheckARN refuses (ErrRefused) a repository ARN, such as the one an
// Inspector2 event names, outside our partition, account or Region.
func (o Origin) CheckARN(what string, a RepositoryARN) error {
	if a.Partition != o.Partition {
		return fmt.Errorf("%w: %s %s is in partition %q, not ours (%s)", ErrRefused, what, a, a.Partition, o.Partition)
	}
	return o.Check(what+" "+a.String(), a.Account, a.Region)
}

// Refusal is what a function records about an event it refused: the
// detail of the EventRefused audit event.
type Refusal struct {
	// Function is the refusing function (onpush, onscan).
	Function string `json:"function"`
	// EventID, DetailType, Account and Region are the event's envelope.
	EventID    string `json:"eventId"`
	DetailType string `json:"detailType"`
	Account    string `json:"account"`
	Region     string `json:"region"`
	// Repository, Digest and Tag are what the event names, if anything.
	Repository string `json:"repository,omitempty"`
	Digest     string `json:"digest,omitempty"`
	Tag        string `json:"tag,omitempty"`
	// Reason says why, from the ErrRefused error.
	Reason string `json:"reason"`
}

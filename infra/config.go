package main

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Context keys read by the app. Set them with "cdk synth -c key=value" or in
// cdk.json's "context".
const (
	ctxPolicy          = "policy"               // policy file path, relative to the repository root
	ctxSlackSecret     = "slackSecret"          // overrides notify.slackSecret; "" disables Slack
	ctxClusters        = "clusters"             // comma-separated subset of the policy's clusters to wire
	ctxDryRun          = "dryRun"               // true forces gc into dry-run whatever the policy says
	ctxManageRegistry  = "manageRegistry"       // second opt-in for the account-wide registry settings
	ctxEventBusName    = "eventBusName"         // name of the ecrwarden event bus; default the stack name
	ctxLogRetention    = "logRetentionDays"     // CloudWatch Logs retention of the function logs
	ctxBackstopDays    = "untaggedBackstopDays" // age of the native untagged-image lifecycle rule; 0 omits it
	ctxEKSAccess       = "eksAccess"            // "rbac" (Kubernetes groups, the default) or "policy" (managed access policies)
	ctxVPCID           = "vpcId"                // cluster VPC, for clusters with a private endpoint
	ctxSubnetIDs       = "subnetIds"            // comma-separated private subnets of that VPC
	ctxClusterSG       = "clusterSecurityGroupId"
	ctxStackName       = "stackName"
	ctxPrincipalPrefix = "principal:" // principal:<name>=<arn> overrides a policy principal
	// ctxManageRepositories says whether this stack creates the policy's
	// manage: true repositories. Repository names belong to the registry
	// (account and Region), so only one stack can create them.
	ctxManageRepositories  = "manageRepositories"
	ctxReservedConcurrency = "reservedConcurrency" // false: no reserved concurrency (accounts with a low quota)
	ctxAccount             = "account"             // pins the stack to an account; unset: environment-agnostic
	ctxRegion              = "region"              // pins the stack to a Region; unset: environment-agnostic
)

// defaultStackName is the stack name when the context does not give one;
// it is the one stack name that creates the manage: true repositories
// without being told to.
const defaultStackName = "ecrwarden"

// EKS access modes.
const (
	eksAccessPolicy = "policy"
	eksAccessRBAC   = "rbac"
)

// config is everything the stack takes from CDK context.
type config struct {
	policyPath       string
	slackSecret      *string // nil: use the policy's notify.slackSecret
	clusters         []string
	dryRun           bool
	manageRegistry   bool
	eventBusName     string
	logRetentionDays int
	backstopDays     int
	eksAccess        string
	vpc              *vpcConfig
	stackName        string
	principals       map[string]string
	// manageRepositories is nil when the context does not say.
	manageRepositories  *bool
	reservedConcurrency bool
	account, region     string
}

// vpcConfig places the Kubernetes-facing functions in the cluster's VPC.
type vpcConfig struct {
	vpcID                  string
	subnetIDs              []string
	clusterSecurityGroupID string
}

// contextLookup returns a context value and whether it is set.
type contextLookup func(key string) (any, bool)

// readConfig reads the context values; keys lists every context key that is
// set, so principal:<name> overrides can be found.
func readConfig(get contextLookup, keys []string) (config, error) {
	c := config{
		policyPath:          "ecrwarden.yaml",
		logRetentionDays:    30,
		backstopDays:        30,
		eksAccess:           eksAccessRBAC,
		stackName:           defaultStackName,
		principals:          map[string]string{},
		reservedConcurrency: true,
	}
	var errs []error
	str := func(key string, dst *string) {
		if v, ok := get(key); ok {
			*dst = strings.TrimSpace(fmt.Sprint(v))
		}
	}
	boolean := func(key string, dst *bool) {
		if v, ok := get(key); ok {
			b, err := strconv.ParseBool(strings.TrimSpace(fmt.Sprint(v)))
			if err != nil {
				errs = append(errs, fmt.Errorf("context %s: want true or false, got %q", key, fmt.Sprint(v)))
				return
			}
			*dst = b
		}
	}
	integer := func(key string, dst *int) {
		if v, ok := get(key); ok {
			n, err := strconv.Atoi(strings.TrimSpace(fmt.Sprint(v)))
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("context %s: want a non-negative integer, got %q", key, fmt.Sprint(v)))
				return
			}
			*dst = n
		}
	}
	list := func(key string) []string {
		v, ok := get(key)
		if !ok {
			return nil
		}
		var out []string
		for _, s := range strings.Split(fmt.Sprint(v), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}

	str(ctxPolicy, &c.policyPath)
	if v, ok := get(ctxSlackSecret); ok {
		s := strings.TrimSpace(fmt.Sprint(v))
		c.slackSecret = &s
	}
	c.clusters = list(ctxClusters)
	boolean(ctxDryRun, &c.dryRun)
	boolean(ctxManageRegistry, &c.manageRegistry)
	integer(ctxLogRetention, &c.logRetentionDays)
	integer(ctxBackstopDays, &c.backstopDays)
	str(ctxEKSAccess, &c.eksAccess)
	str(ctxStackName, &c.stackName)
	// The bus is named after the stack, so a second stack gets its own.
	c.eventBusName = c.stackName
	str(ctxEventBusName, &c.eventBusName)
	if _, ok := get(ctxManageRepositories); ok {
		var b bool
		boolean(ctxManageRepositories, &b)
		c.manageRepositories = &b
	}
	boolean(ctxReservedConcurrency, &c.reservedConcurrency)
	str(ctxAccount, &c.account)
	str(ctxRegion, &c.region)

	if !stackName.MatchString(c.stackName) {
		errs = append(errs, fmt.Errorf("context %s: %q is not a CloudFormation stack name (a letter, then letters, digits and hyphens; at most 128)", ctxStackName, c.stackName))
	}
	if c.account != "" && !accountID.MatchString(c.account) {
		errs = append(errs, fmt.Errorf("context %s: %q is not a 12-digit account id", ctxAccount, c.account))
	}
	if c.region != "" && !regionName.MatchString(c.region) {
		errs = append(errs, fmt.Errorf("context %s: %q is not an AWS Region such as eu-west-1", ctxRegion, c.region))
	}

	if c.eksAccess != eksAccessPolicy && c.eksAccess != eksAccessRBAC {
		errs = append(errs, fmt.Errorf("context %s: want %q or %q, got %q", ctxEKSAccess, eksAccessRBAC, eksAccessPolicy, c.eksAccess))
	}
	if !validRetention[c.logRetentionDays] {
		errs = append(errs, fmt.Errorf("context %s: %d is not a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)", ctxLogRetention, c.logRetentionDays))
	}
	if !eventBusName.MatchString(c.eventBusName) || c.eventBusName == "default" {
		errs = append(errs, fmt.Errorf("context %s: %q is not a valid custom event bus name", ctxEventBusName, c.eventBusName))
	}

	var vpc vpcConfig
	str(ctxVPCID, &vpc.vpcID)
	vpc.subnetIDs = list(ctxSubnetIDs)
	str(ctxClusterSG, &vpc.clusterSecurityGroupID)
	switch set := btoi(vpc.vpcID != "") + btoi(len(vpc.subnetIDs) > 0) + btoi(vpc.clusterSecurityGroupID != ""); set {
	case 0:
	case 3:
		c.vpc = &vpc
	default:
		errs = append(errs, fmt.Errorf("context %s, %s and %s go together: set all three to run the functions in the cluster's VPC", ctxVPCID, ctxSubnetIDs, ctxClusterSG))
	}

	for _, k := range keys {
		name, ok := strings.CutPrefix(k, ctxPrincipalPrefix)
		if !ok {
			continue
		}
		v, _ := get(k)
		arn := strings.TrimSpace(fmt.Sprint(v))
		if !iamPrincipalARN.MatchString(arn) {
			errs = append(errs, fmt.Errorf("context %s: %q is not an IAM role or user ARN", k, arn))
			continue
		}
		c.principals[name] = arn
	}
	return c, errors.Join(errs...)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

var (
	eventBusName    = regexp.MustCompile(`^[A-Za-z0-9._\-]{1,256}$`)
	stackName       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	accountID       = regexp.MustCompile(`^[0-9]{12}$`)
	regionName      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	iamPrincipalARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/\-]+$`)
	validRetention  = map[int]bool{1: true, 3: true, 5: true, 7: true, 14: true, 30: true, 60: true, 90: true,
		120: true, 150: true, 180: true, 365: true, 400: true, 545: true, 731: true, 1096: true, 1827: true,
		2192: true, 2557: true, 2922: true, 3288: true, 3653: true}
)

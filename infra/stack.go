package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseks"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/ecrwarden/ecrwarden/internal/ecrevent"
	"github.com/ecrwarden/ecrwarden/internal/kube/rbac"
	"github.com/ecrwarden/ecrwarden/internal/policy"
)

// Environment variables the functions read (the function configuration contract).
const (
	envPolicy       = "ECRWARDEN_POLICY"
	envTopicARN     = "ECRWARDEN_TOPIC_ARN"
	envEventBus     = "ECRWARDEN_EVENT_BUS"
	envSlackSecret  = "ECRWARDEN_SLACK_SECRET"
	envDedupeTable  = "ECRWARDEN_DEDUPE_TABLE"
	envDryRun       = "ECRWARDEN_DRY_RUN"
	envGCQueueURL   = "ECRWARDEN_GC_QUEUE_URL"
	envVerifyQueue  = "ECRWARDEN_VERIFY_QUEUE_URL"
	dedupeKey       = "pk"
	dedupeTTL       = "expiresAt"
	gcConcurrency   = 5 // SQS event source maxConcurrency for the gc fan-out
	asyncRetries    = 2 // Lambda and EventBridge retries before the DLQ
	gcTimeoutMinute = 5
)

// Repository actions granted by a managed repository's policy.
var (
	pullActions = []string{"ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}
	pushActions = []string{"ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"}
)

// stackProps are the inputs of the ecrwarden stack.
type stackProps struct {
	awscdk.StackProps
	// policy is the validated policy file and policyPath where it was read.
	policy     *policy.File
	policyPath string
	// root is the repository root, where functions/<name> are built.
	root string
	cfg  config
	// stderr receives bundling errors.
	stderr io.Writer
}

// function is one of the three Lambda functions with what hangs off it.
type function struct {
	name  string
	fn    awslambda.Function
	role  awsiam.Role
	dlq   awssqs.Queue
	group awslogs.LogGroup
}

// builder carries the shared resources while the stack is put together.
type builder struct {
	stack     awscdk.Stack
	p         stackProps
	key       awskms.Key
	topic     awssns.Topic
	bus       awsevents.EventBus
	table     awsdynamodb.Table
	alarm     awscloudwatch.IAlarmAction
	clusters  []policy.Cluster
	secretARN string
	secret    string
	vpc       awsec2.IVpc
	subnets   []awsec2.ISubnet
	sg        awsec2.SecurityGroup
	ids       map[string]bool // construct ids handed out by uniqueID
	// alarmNames are the names of every alarm in the stack: the topic and
	// key policies let CloudWatch publish for exactly these.
	alarmNames []string
	// alarms are the alarms themselves, for the dashboard.
	alarms []awscloudwatch.Alarm
	// schedules is the stack's own schedule group (created on first use):
	// the Scheduler roles trust only schedules of this group.
	schedules awsscheduler.ScheduleGroup
	functions []*function
}

// newStack builds the ecrwarden stack from a validated policy. It fails on
// inconsistent context (unknown cluster or principal names, a registry
// opt-in given only once).
func newStack(scope constructs.Construct, id string, p stackProps) (awscdk.Stack, error) {
	clusters, err := selectClusters(p.policy, p.cfg.clusters)
	if err != nil {
		return nil, err
	}
	manageRepos, err := repositoryOwnership(p.policy, p.cfg)
	if err != nil {
		return nil, err
	}
	var principals map[string]string
	if manageRepos {
		if principals, err = resolvePrincipals(p.policy, p.cfg.principals); err != nil {
			return nil, err
		}
	}
	manageRegistry, err := registryOptIn(p.policy, p.cfg.manageRegistry)
	if err != nil {
		return nil, err
	}

	stack := awscdk.NewStack(scope, jsii.String(id), &p.StackProps)
	b := &builder{stack: stack, p: p, clusters: clusters, ids: map[string]bool{}}
	b.secret = p.policy.Notify.SlackSecret
	if p.cfg.slackSecret != nil {
		b.secret = *p.cfg.slackSecret
	}
	if b.secret != "" {
		b.secretARN = secretARN(stack, b.secret)
	}

	b.alerts()
	b.bus = awsevents.NewEventBus(stack, jsii.String("Bus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(p.cfg.eventBusName),
	})
	b.table = awsdynamodb.NewTable(stack, jsii.String("Dedupe"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(dedupeKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String(dedupeTTL),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		// Dedupe records expire by TTL; losing them only repeats an alert.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	if p.cfg.vpc != nil {
		b.network()
	}

	names := p.policy.RepositoryNames()
	repoARNs := b.repositoryARNs(names)
	var deleteOnViolation, retained, archived []string
	for _, r := range p.policy.Repositories {
		if r.Tags != nil && r.Tags.OnViolation == policy.ActionDelete {
			deleteOnViolation = append(deleteOnViolation, b.repositoryARN(r.Name))
		}
		if len(r.Retention) > 0 {
			retained = append(retained, b.repositoryARN(r.Name))
		}
		if slices.ContainsFunc(r.Retention, func(rr policy.RetentionRule) bool { return rr.Disposal() == policy.DisposalArchive }) {
			archived = append(archived, b.repositoryARN(r.Name))
		}
	}

	// onpush and onscan read image details (DescribeImages: the rollout
	// lookup, the reconcile's listing) and scan findings; neither reads a
	// manifest, so neither has ecr:BatchGetImage (gc alone does).
	onpushActions := []string{"ecr:DescribeImages"}
	gated := requiresCleanScan(p.policy)
	if gated {
		// The scheduled reconcile confirms a gated candidate's scan.
		onpushActions = append(onpushActions, "ecr:DescribeImageScanFindings")
	}
	// Every rollout is verified by delayed checks on this queue (see
	// docs/verification.md): onpush and onscan arm the first check after
	// their patch, onpush runs the checks (its event source) and re-arms.
	verifyQueue := awssqs.NewQueue(stack, jsii.String("VerifyQueue"), &awssqs.QueueProps{
		Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL: jsii.Bool(true),
		// Six times onpush's timeout, as Lambda advises for SQS sources: a
		// failed check is retried after it.
		VisibilityTimeout: awscdk.Duration_Minutes(jsii.Number(6)),
	})
	verifySend := allow([]string{"sqs:SendMessage"}, *verifyQueue.QueueArn())
	onpushStatements := []awsiam.PolicyStatement{allow(onpushActions, repoARNs...), verifySend}
	if gated {
		onpushStatements = append(onpushStatements, inspectorFindings())
	}
	// onpush reads what runs before it deletes a rejected tag, every source
	// gc reads (the clusters: access entries below; the AWS services of
	// gc.inUse: the same read-only statements as gc's).
	var onpushInUseWildcards []string
	if len(deleteOnViolation) > 0 {
		onpushStatements = append(onpushStatements, allow([]string{"ecr:BatchDeleteImage"}, deleteOnViolation...))
		var inUse []awsiam.PolicyStatement
		inUse, onpushInUseWildcards = b.inUseStatements(p.policy.GC.InUse.Enabled())
		onpushStatements = append(onpushStatements, inUse...)
	}
	onpush := b.function("onpush", functionSpec{
		description: "ecrwarden: checks pushed tags against the policy and rolls Deployments forward",
		timeout:     awscdk.Duration_Seconds(jsii.Number(60)),
		statements:  onpushStatements,
		reserved:    onpushConcurrency,
		throttled:   throttlePeriods,
		// The dryRun context stops onpush's tag deletions too; the policy's
		// tags.dryRun is read from the bundled policy.
		env: map[string]string{envDryRun: fmt.Sprint(p.cfg.dryRun), envVerifyQueue: *verifyQueue.QueueUrl()},
	})
	onscan := b.function("onscan", functionSpec{
		description: "ecrwarden: alerts on scan findings once per finding set and releases gated rollouts",
		timeout:     awscdk.Duration_Seconds(jsii.Number(60)),
		statements: []awsiam.PolicyStatement{
			allow([]string{"ecr:DescribeImageScanFindings", "ecr:DescribeImages"}, repoARNs...),
			inspectorFindings(),
			verifySend,
		},
		env:      map[string]string{envVerifyQueue: *verifyQueue.QueueUrl()},
		reserved: onscanConcurrency,
		// Inspector's bursts (one event per finding) queue behind the
		// reserved concurrency by design; only a backlog that lasts is news.
		throttled: onscanThrottlePeriods,
	})
	// A check that keeps failing (the cluster unreachable) lands in onpush's
	// DLQ after 5 receives, where its alarm fires; the reconcile re-arms the
	// verification it left pending.
	verifyQueue.Node().DefaultChild().(awssqs.CfnQueue).SetRedrivePolicy(map[string]any{
		"deadLetterTargetArn": onpush.dlq.QueueArn(),
		"maxReceiveCount":     5,
	})
	onpush.fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(verifyQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize: jsii.Number(10),
		// Two of onpush's reserved five: checks never starve push events.
		MaxConcurrency:          jsii.Number(2),
		ReportBatchItemFailures: jsii.Bool(true),
	}))
	// A check waits at most 15 minutes (SQS's largest delay); older means
	// checks back up and rollouts go unverified.
	b.alarmOn(stack, "VerifyQueueAgeAlarm", "verify-queue-age", "ecrwarden rollout verification checks wait longer than 30 minutes",
		verifyQueue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum"),
		}), 1800, 1)
	if gated {
		suppressInspectorWildcard(onpush)
	}
	suppressInUseWildcards(onpush.role, onpushInUseWildcards)
	suppressInspectorWildcard(onscan)

	gcQueue := awssqs.NewQueue(stack, jsii.String("GCQueue"), &awssqs.QueueProps{
		Encryption: awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL: jsii.Bool(true),
		// Six times the function timeout, as Lambda advises for SQS sources.
		VisibilityTimeout: awscdk.Duration_Minutes(jsii.Number(6 * gcTimeoutMinute)),
	})
	dryRun := p.policy.GC.Dry() || p.cfg.dryRun
	gcStatements := []awsiam.PolicyStatement{
		// BatchGetImage reads the manifests of multi-arch indexes, whose
		// children are kept or deleted with them; GetLifecyclePolicy reads
		// the native policy gc shows beside its own plan.
		allow([]string{"ecr:BatchGetImage", "ecr:DescribeImages", "ecr:DescribeRepositories", "ecr:GetLifecyclePolicy"}, repoARNs...),
		allow([]string{"sqs:SendMessage"}, *gcQueue.QueueArn()),
		// The fan-out's run-wide cap: a conditional UpdateItem on the run's
		// counter, GetItem of a repository's reservation (PutItem is in the
		// dedupe statement every function has).
		allow([]string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, *b.table.TableArn()),
	}
	if len(retained) > 0 {
		gcStatements = append(gcStatements, allow([]string{"ecr:BatchDeleteImage"}, retained...))
	}
	if len(archived) > 0 {
		// Only repositories with a rule whose action is archive.
		gcStatements = append(gcStatements, allow([]string{"ecr:UpdateImageStorageClass"}, archived...))
	}
	inUse, inUseWildcards := b.inUseStatements(p.policy.GC.InUse.Enabled())
	gcStatements = append(gcStatements, inUse...)
	gc := b.function("gc", functionSpec{
		description: "ecrwarden: expires images by the policy's retention rules, never one in use",
		timeout:     awscdk.Duration_Minutes(jsii.Number(gcTimeoutMinute)),
		statements:  gcStatements,
		reserved:    gcReservedConcurrency,
		throttled:   throttlePeriods,
		env: map[string]string{
			envDryRun:     fmt.Sprint(dryRun),
			envGCQueueURL: *gcQueue.QueueUrl(),
		},
	})
	suppressInUseWildcards(gc.role, inUseWildcards)
	// The fan-out queue's poison messages land in gc's DLQ too.
	gcQueue.Node().DefaultChild().(awssqs.CfnQueue).SetRedrivePolicy(map[string]any{
		"deadLetterTargetArn": gc.dlq.QueueArn(),
		"maxReceiveCount":     3,
	})
	gc.fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(gcQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(1),
		MaxConcurrency:          jsii.Number(gcConcurrency),
		ReportBatchItemFailures: jsii.Bool(true),
	}))
	b.alarmOn(stack, "GCQueueAgeAlarm", "gc-queue-age", "ecrwarden gc fan-out messages wait longer than an hour",
		gcQueue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Minutes(jsii.Number(5)), Statistic: jsii.String("Maximum"),
		}), 3600, 1)

	// The rules route only events of the stack's own account (a token that
	// resolves to AWS::AccountId); the functions check again at run time.
	account := *stack.Account()
	b.rule("PushRule", "ECR pushes to the policy's repositories", ecrevent.PushPattern(account, names), onpush)
	b.rule("BasicScanRule", "ECR basic scan results for the policy's repositories", ecrevent.BasicScanPattern(account, names), onscan)
	b.rule("InspectorRule", "Inspector2 scans and findings on the policy's repositories", ecrevent.InspectorPattern(account, names), onscan)

	schedule := p.policy.GC.Schedule
	if schedule == "" {
		schedule = policy.DefaultSchedule
	}
	schedulerRole := b.schedulerRole("GCSchedulerRole", "ecrwarden: EventBridge Scheduler invokes gc")
	awsscheduler.NewSchedule(stack, jsii.String("GCSchedule"), &awsscheduler.ScheduleProps{
		Description:   jsii.String("ecrwarden gc"),
		ScheduleGroup: b.scheduleGroup(),
		Schedule:      awsscheduler.ScheduleExpression_Expression(jsii.String(schedule), nil),
		Target: awsschedulertargets.NewLambdaInvoke(gc.fn, &awsschedulertargets.ScheduleTargetBaseProps{
			Role:            schedulerRole,
			DeadLetterQueue: gc.dlq,
			RetryAttempts:   jsii.Number(asyncRetries),
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(1)),
			// The scheduled time names the run, so a retried invocation of the
			// same run does not alert twice (the execution id changes per retry).
			Input: awsscheduler.ScheduleTargetInput_FromObject(map[string]any{
				"trigger": "schedule", "runId": awsscheduler.ContextAttribute_ScheduledTime(),
			}),
		}),
	})
	// After NewSchedule: the target adds its grant to the role's DefaultPolicy,
	// which must exist for the suppression to reach it.
	cdknag.NagSuppressions_AddResourceSuppressions(schedulerRole, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("CDK's LambdaInvoke target grants lambda:InvokeFunction on the gc function's ARN and its qualified ARNs (<arn>:*, versions and aliases of that one function only)."),
		AppliesTo: &[]any{jsii.String("Resource::<" + *stack.GetLogicalId(gc.fn.Node().DefaultChild().(awscdk.CfnElement)) + ".Arn>:*")},
	}}, jsii.Bool(true))

	if err := b.reconcileSchedule(onpush); err != nil {
		return nil, err
	}

	for _, f := range []*function{onpush, onscan, gc} {
		// onpush reads what runs, as gc does, before it deletes a rejected
		// tag (onViolation: delete): it gets gc's read access too.
		reads := f.name == "gc" || (f.name == "onpush" && len(deleteOnViolation) > 0)
		b.accessEntries(f, f.name != "gc", reads)
	}
	if manageRepos {
		b.repositories(principals)
	}
	if manageRegistry {
		b.registry()
	}
	b.publishers()
	b.dashboard(gcQueue, verifyQueue)
	b.outputs(gcQueue, verifyQueue)
	return stack, nil
}

// outputs names what docs/operations.md tells operators to use: the topic
// to subscribe to, the bus to consume audit events from, each function's
// name, role (for access entries and key policies kept elsewhere) and
// dead-letter queue (to inspect and redrive), the fan-out queue (the
// redrive destination of gc's poison messages) and the dedupe table. No
// output is exported: an export name is account-wide and would collide
// with a second stack's.
func (b *builder) outputs(gcQueue, verifyQueue awssqs.Queue) {
	out := func(id, description string, value *string) {
		awscdk.NewCfnOutput(b.stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	out("AlertTopicArn", "SNS topic every alert and alarm goes to: subscribe here", b.topic.TopicArn())
	out("EventBusName", "EventBridge bus of the audit events", b.bus.EventBusName())
	out("EventBusArn", "EventBridge bus of the audit events", b.bus.EventBusArn())
	out("DedupeTableName", "DynamoDB table of alert and rollout dedupe records", b.table.TableName())
	out("GCQueueArn", "gc fan-out queue: redrive gc's poison messages here", gcQueue.QueueArn())
	out("VerifyQueueArn", "rollout verification checks (onpush's event source); a failing check moves to onpush's DLQ", verifyQueue.QueueArn())
	for _, f := range b.functions {
		id := exportName(f.name)
		out(id+"FunctionName", "Lambda function "+f.name, f.fn.FunctionName())
		out(id+"RoleArn", "IAM role of "+f.name, f.role.RoleArn())
		out(id+"DeadLetterQueueArn", "dead-letter queue of "+f.name, f.dlq.QueueArn())
		out(id+"DeadLetterQueueUrl", "dead-letter queue of "+f.name, f.dlq.QueueUrl())
	}
}

// alerts creates the KMS key, the alert topic and the alarm action. The
// key policy starts with the account's administration of the key; the
// publishers' use of it is added by publishers once they exist.
func (b *builder) alerts() {
	doc := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String("AccountAdministersKey"),
			// Spelled out instead of kms:*, so that no policy in the
			// template has a wildcard action. Administration only: the
			// cryptographic operations are for the publishers (below), so
			// no other principal of the account can use the key, whatever
			// its IAM policies say.
			Actions: jsii.Strings("kms:CancelKeyDeletion", "kms:CreateAlias", "kms:CreateGrant",
				"kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey",
				"kms:EnableKeyRotation", "kms:GetKeyPolicy",
				"kms:GetKeyRotationStatus", "kms:ListGrants", "kms:ListKeyPolicies", "kms:ListResourceTags",
				"kms:PutKeyPolicy", "kms:RetireGrant", "kms:RevokeGrant",
				"kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias",
				"kms:UpdateKeyDescription"),
			Principals: &[]awsiam.IPrincipal{awsiam.NewAccountRootPrincipal()},
			Resources:  jsii.Strings("*"),
		}),
	}})
	b.key = awskms.NewKey(b.stack, jsii.String("AlertKey"), &awskms.KeyProps{
		Description:       jsii.String("ecrwarden alert topic"),
		EnableKeyRotation: jsii.Bool(true),
		Policy:            doc,
	})
	b.topic = awssns.NewTopic(b.stack, jsii.String("Alerts"), &awssns.TopicProps{
		DisplayName: jsii.String("ecrwarden alerts"),
		MasterKey:   b.key,
		EnforceSSL:  jsii.Bool(true),
	})
	b.alarm = awscloudwatchactions.NewSnsAction(b.topic)
}

// publishActions are the KMS calls SNS makes with a publisher's
// credentials when it publishes to a topic encrypted with a customer
// managed key.
var publishActions = []string{"kms:Decrypt", "kms:GenerateDataKey"}

// publishers lets exactly the alert topic's publishers publish: the three
// function roles use the key (their identity policies allow sns:Publish
// and the same KMS calls), and CloudWatch may publish to the topic and use
// the key on behalf of this stack's alarms only. EnforceSSL gave the topic
// a policy holding only a Deny, which replaced SNS's default policy: without
// the Allow below no alarm would ever reach the topic.
func (b *builder) publishers() {
	roles := make([]*string, len(b.functions))
	for i, f := range b.functions {
		roles[i] = f.role.RoleArn()
	}
	// The roles are named in a condition, not as principals: KMS rejects a
	// key policy whose principal it cannot see yet, and roles created in the
	// same deployment may not be visible to it for a while (IAM is
	// eventually consistent). The account principal delegates to the
	// roles' identity policies, and the condition admits these roles only.
	b.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("FunctionsPublishAlerts"),
		Actions:    jsii.Strings(publishActions...),
		Principals: &[]awsiam.IPrincipal{awsiam.NewAccountRootPrincipal()},
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnEquals": map[string]any{"aws:PrincipalArn": roles}},
	}), nil)

	alarms := make([]*string, len(b.alarmNames))
	for i, name := range b.alarmNames {
		alarms[i] = b.stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"), ResourceName: jsii.String(name),
			ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})
	}
	// The alarms are named (alarmOn), so their ARNs are known without a
	// reference to them: the key cannot refer to the alarms, which refer to
	// the topic, which refers to the key.
	fromAlarms := &map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": b.stack.Account()},
		"ArnEquals":    map[string]any{"aws:SourceArn": alarms},
	}
	cloudwatch := awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)
	b.key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Actions:    jsii.Strings(publishActions...),
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Resources:  jsii.Strings("*"),
		Conditions: fromAlarms,
	}), nil)
	b.topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Actions:    jsii.Strings("sns:Publish"),
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Resources:  &[]*string{b.topic.TopicArn()},
		Conditions: fromAlarms,
	}))
}

// alarmOn creates an alarm named <stack>-<name> on metric (threshold and
// periods of 5 minutes that must all breach) that notifies the alert topic,
// and records its name for publishers.
func (b *builder) alarmOn(scope constructs.Construct, id, name, description string, m awscloudwatch.IMetric, threshold float64, periods int) {
	full := *b.stack.StackName() + "-" + name
	b.alarmNames = append(b.alarmNames, full)
	alarm := awscloudwatch.NewAlarm(scope, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmName:          jsii.String(full),
		AlarmDescription:   jsii.String(description),
		Metric:             m,
		Threshold:          jsii.Number(threshold),
		EvaluationPeriods:  jsii.Number(float64(periods)),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(b.alarm)
	b.alarms = append(b.alarms, alarm)
}

// network places the Kubernetes-facing functions in the cluster's VPC and
// lets them reach the private API endpoint on 443.
func (b *builder) network() {
	v := b.p.cfg.vpc
	b.vpc = awsec2.Vpc_FromVpcAttributes(b.stack, jsii.String("ClusterVpc"), &awsec2.VpcAttributes{
		VpcId:             jsii.String(v.vpcID),
		AvailabilityZones: b.stack.AvailabilityZones(),
	})
	for i, id := range v.subnetIDs {
		b.subnets = append(b.subnets, awsec2.Subnet_FromSubnetId(b.stack, jsii.String(fmt.Sprintf("Subnet%d", i)), jsii.String(id)))
	}
	b.sg = awsec2.NewSecurityGroup(b.stack, jsii.String("FunctionsSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              b.vpc,
		Description:      jsii.String("ecrwarden functions: HTTPS out only"),
		AllowAllOutbound: jsii.Bool(false),
	})
	b.sg.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)),
		jsii.String("HTTPS to the EKS API endpoint and AWS APIs (through NAT or VPC endpoints)"), nil)
	awsec2.NewCfnSecurityGroupIngress(b.stack, jsii.String("ClusterIngress"), &awsec2.CfnSecurityGroupIngressProps{
		GroupId:               jsii.String(v.clusterSecurityGroupID),
		IpProtocol:            jsii.String("tcp"),
		FromPort:              jsii.Number(443),
		ToPort:                jsii.Number(443),
		SourceSecurityGroupId: b.sg.SecurityGroupId(),
		Description:           jsii.String("ecrwarden functions to the EKS API endpoint"),
	})
}

// functionSpec is what differs between the three functions.
type functionSpec struct {
	description string
	timeout     awscdk.Duration
	statements  []awsiam.PolicyStatement
	env         map[string]string
	// reserved is the function's reserved concurrency (its ceiling).
	reserved int
	// throttled is how many consecutive 5-minute periods with throttled
	// invocations raise the throttles alarm.
	throttled int
}

// function creates a function with its role, log group, DLQ and alarms.
// Every function gets the shared permissions: publish to the alert topic,
// put events on the ecrwarden bus, read the Slack secret and describe the
// clusters.
func (b *builder) function(name string, spec functionSpec) *function {
	id := exportName(name)
	scope := constructs.NewConstruct(b.stack, jsii.String(id))
	f := &function{name: name}
	b.functions = append(b.functions, f)

	f.dlq = awssqs.NewQueue(scope, jsii.String("DLQ"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(f.dlq, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the dead-letter queue of " + name + "; a DLQ of a DLQ would only move the problem."),
	}}, jsii.Bool(false))

	f.group = awslogs.NewLogGroup(scope, jsii.String("Logs"), &awslogs.LogGroupProps{})
	f.group.Node().DefaultChild().(awslogs.CfnLogGroup).SetRetentionInDays(jsii.Number(float64(b.p.cfg.logRetentionDays)))

	f.role = awsiam.NewRole(scope, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("ecrwarden " + name + ": only the calls it makes"),
	})
	statements := append([]awsiam.PolicyStatement{
		allow([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, *f.group.LogGroupArn()),
		allow([]string{"sns:Publish"}, *b.topic.TopicArn()),
		allow(publishActions, *b.key.KeyArn()),
		allow([]string{"events:PutEvents"}, *b.bus.EventBusArn()),
		b.dedupeStatement(),
	}, spec.statements...)
	if b.secretARN != "" {
		statements = append(statements, allow([]string{"secretsmanager:GetSecretValue"}, b.secretARN))
	}
	if len(b.clusters) > 0 {
		var arns []string
		for _, c := range b.clusters {
			arns = append(arns, b.clusterARN(c.Name))
		}
		statements = append(statements, allow([]string{"eks:DescribeCluster"}, arns...))
	}
	for _, s := range statements {
		f.role.AddToPrincipalPolicy(s)
	}

	env := map[string]*string{
		envPolicy:      jsii.String("/var/task/" + bundledPolicyName),
		envTopicARN:    b.topic.TopicArn(),
		envEventBus:    b.bus.EventBusName(),
		envSlackSecret: jsii.String(b.secret),
		envDedupeTable: b.table.TableName(),
		// The functions' EMF metrics (internal/metrics), plotted by the dashboard.
		envMetricsNamespace: jsii.String(b.metricsNamespace()),
	}
	for k, v := range spec.env {
		env[k] = jsii.String(v)
	}

	props := &awslambda.FunctionProps{
		Description:  jsii.String(spec.description),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code: awslambda.Code_FromAsset(jsii.String(b.p.root), &awss3assets.AssetOptions{
			AssetHashType: awscdk.AssetHashType_OUTPUT,
			Bundling: &awscdk.BundlingOptions{
				// Never pulled: the local bundler always answers, and a
				// failed go build stops synth rather than falling back.
				Image:      awscdk.DockerImage_FromRegistry(jsii.String("ecrwarden-builds-locally-without-docker")),
				Local:      &goBundler{root: b.p.root, function: name, policyPath: b.p.policyPath, stderr: b.p.stderr},
				OutputType: awscdk.BundlingOutput_NOT_ARCHIVED,
				// CDK caches staged assets by source path and bundling
				// options, which would otherwise be the same for the three
				// functions: the first binary would ship as all three.
				Environment: &map[string]*string{"ECRWARDEN_FUNCTION": jsii.String(name)},
			},
		}),
		MemorySize:    jsii.Number(256),
		Timeout:       spec.timeout,
		Role:          f.role,
		LogGroup:      f.group,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Environment:   &env,
		OnFailure:     awslambdadestinations.NewSqsDestination(f.dlq),
		RetryAttempts: jsii.Number(asyncRetries),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(6)),
	}
	if b.p.cfg.reservedConcurrency {
		// Throttled asynchronous invocations are not lost: Lambda keeps
		// retrying them for up to MaxEventAge, then sends them to the DLQ.
		props.ReservedConcurrentExecutions = jsii.Number(float64(spec.reserved))
	}
	if b.vpc != nil {
		props.Vpc = b.vpc
		props.VpcSubnets = &awsec2.SubnetSelection{Subnets: &b.subnets}
		props.SecurityGroups = &[]awsec2.ISecurityGroup{b.sg}
		f.role.AddManagedPolicy(awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("service-role/AWSLambdaVPCAccessExecutionRole")))
		cdknag.NagSuppressions_AddResourceSuppressions(f.role, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM4"),
			Reason:    jsii.String("A function in a VPC needs the ENI actions of AWSLambdaVPCAccessExecutionRole; they do not support resource-level scoping."),
			AppliesTo: &[]any{jsii.String("Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")},
		}}, jsii.Bool(true))
	}
	f.fn = awslambda.NewFunction(scope, jsii.String("Function"), props)
	// CDK makes the function depend on the role and its default policy;
	// the role dependency is already implied by the Role GetAtt (cfn-lint
	// W3005). The policy dependency stays: the function must not start
	// before its permissions exist.
	defaultPolicy := f.role.Node().FindChild(jsii.String("DefaultPolicy")).Node().DefaultChild().(awscdk.CfnElement)
	f.fn.Node().DefaultChild().(awslambda.CfnFunction).AddOverride(jsii.String("DependsOn"), []*string{b.stack.GetLogicalId(defaultPolicy)})

	five := awscdk.Duration_Minutes(jsii.Number(5))
	b.alarmOn(scope, "ErrorsAlarm", name+"-errors", "ecrwarden "+name+": invocations failed",
		f.fn.MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), 1, 1)
	b.alarmOn(scope, "ThrottlesAlarm", name+"-throttles",
		fmt.Sprintf("ecrwarden %s: invocations throttled for %d minutes in a row (reserved concurrency %d)", name, 5*spec.throttled, spec.reserved),
		f.fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), 1, spec.throttled)
	b.alarmOn(scope, "DLQAlarm", name+"-dead-letters", "ecrwarden "+name+": events in the dead-letter queue",
		f.dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}), 1, 1)
	return f
}

// dedupeStatement grants the item calls internal/dedupe makes on the dedupe
// table (conditional PutItem, DeleteItem); every function's alerts go
// through it.
func (b *builder) dedupeStatement() awsiam.PolicyStatement {
	return allow([]string{"dynamodb:DeleteItem", "dynamodb:PutItem"}, *b.table.TableArn())
}

// rule routes events matching pattern on the default bus to f, with
// retries and f's DLQ for events EventBridge cannot deliver. The pattern is
// used verbatim (a CfnRule), so the template holds exactly what
// internal/ecrevent defines.
func (b *builder) rule(id, description string, pattern map[string]any, f *function) {
	rule := awsevents.NewCfnRule(b.stack, jsii.String(id), &awsevents.CfnRuleProps{
		Description:  jsii.String("ecrwarden: " + description),
		EventPattern: pattern,
		State:        jsii.String("ENABLED"),
		Targets: &[]any{&awsevents.CfnRule_TargetProperty{
			Id:               jsii.String(f.name),
			Arn:              f.fn.FunctionArn(),
			DeadLetterConfig: &awsevents.CfnRule_DeadLetterConfigProperty{Arn: f.dlq.QueueArn()},
			RetryPolicy: &awsevents.CfnRule_RetryPolicyProperty{
				MaximumRetryAttempts:     jsii.Number(asyncRetries),
				MaximumEventAgeInSeconds: jsii.Number(3600),
			},
		}},
	})
	f.fn.AddPermission(jsii.String(id+"Invoke"), &awslambda.Permission{
		Principal: awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil),
		SourceArn: rule.AttrArn(),
	})
	f.dlq.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String(id + "DeadLetters"),
		Actions:    jsii.Strings("sqs:SendMessage"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
		Resources:  &[]*string{f.dlq.QueueArn()},
		Conditions: &map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": rule.AttrArn()}},
	}))
	b.alarmOn(b.stack, id+"FailedInvocationsAlarm", alarmSlug(id)+"-failed-invocations", "ecrwarden: "+id+" could not deliver events to "+f.name,
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String("AWS/Events"),
			MetricName:    jsii.String("FailedInvocations"),
			DimensionsMap: &map[string]*string{"RuleName": rule.Ref()},
			Period:        awscdk.Duration_Minutes(jsii.Number(5)),
			Statistic:     jsii.String("Sum"),
		}), 1, 1)
}

// alarmSlug turns a construct id such as "BasicScanRule" into
// "basic-scan-rule" for alarm names.
func alarmSlug(id string) string {
	var sb strings.Builder
	for i, r := range id {
		if 'A' <= r && r <= 'Z' {
			if i > 0 {
				sb.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// Managed EKS access policies, for eksAccess=policy.
const (
	eksEditPolicy = "AmazonEKSEditPolicy"
	eksViewPolicy = "AmazonEKSViewPolicy"
)

// accessEntries gives f's role access to each cluster. With eksAccess=rbac (the
// default) the entry maps the role to Kubernetes groups, whose Roles internal/kube/rbac
// defines (`ecrwarden rbac` prints them): ecrwarden-deployer for the functions that patch
// Deployments (get, list, patch on Deployments in the policy's namespaces),
// ecrwarden-reader for those that read what runs in every namespace (gc's in-use
// discovery; onpush when a repository deletes on violation: an image runs wherever its
// workload is). With eksAccess=policy the entry holds EKS managed access policies
// instead, wider than the code needs: AmazonEKSEditPolicy scoped to the policy's
// namespaces for the deployers (it also reads Secrets and execs into Pods),
// AmazonEKSViewPolicy on the whole cluster for the readers.
func (b *builder) accessEntries(f *function, patches, reads bool) {
	for _, c := range b.clusters {
		props := &awseks.CfnAccessEntryProps{
			ClusterName:  jsii.String(c.Name),
			PrincipalArn: f.role.RoleArn(),
			Type:         jsii.String("STANDARD"),
		}
		if b.p.cfg.eksAccess == eksAccessRBAC {
			var groups []string
			if patches {
				groups = append(groups, rbac.GroupDeployer)
			}
			if reads {
				groups = append(groups, rbac.GroupReader)
			}
			props.KubernetesGroups = jsii.Strings(groups...)
		} else {
			policyARN := func(name string) *string {
				return jsii.String("arn:" + *awscdk.Aws_PARTITION() + ":eks::aws:cluster-access-policy/" + name)
			}
			var policies []any
			if patches {
				policies = append(policies, &awseks.CfnAccessEntry_AccessPolicyProperty{
					PolicyArn:   policyARN(eksEditPolicy),
					AccessScope: &awseks.CfnAccessEntry_AccessScopeProperty{Type: jsii.String("namespace"), Namespaces: jsii.Strings(c.Namespaces...)},
				})
			}
			if reads {
				policies = append(policies, &awseks.CfnAccessEntry_AccessPolicyProperty{
					PolicyArn:   policyARN(eksViewPolicy),
					AccessScope: &awseks.CfnAccessEntry_AccessScopeProperty{Type: jsii.String("cluster")},
				})
			}
			props.AccessPolicies = &policies
		}
		awseks.NewCfnAccessEntry(b.stack, jsii.String(b.uniqueID(exportName(f.name)+"Access"+exportName(c.Name))), props)
	}
}

// repositories creates the repositories the policy marks manage: true.
func (b *builder) repositories(principals map[string]string) {
	for _, r := range b.p.policy.Repositories {
		if !r.Manage {
			continue
		}
		props := &awsecr.RepositoryProps{
			RepositoryName:     jsii.String(r.Name),
			ImageScanOnPush:    jsii.Bool(true),
			ImageTagMutability: awsecr.TagMutability_IMMUTABLE,
			Encryption:         awsecr.RepositoryEncryption_AES_256(),
			RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
		}
		if r.Encryption == policy.EncryptionKMS {
			// The AWS managed key aws/ecr: pulls by any principal of the
			// account work without a key policy to maintain.
			props.Encryption = awsecr.RepositoryEncryption_KMS()
		}
		if len(r.MutableTags) > 0 {
			props.ImageTagMutability = awsecr.TagMutability_IMMUTABLE_WITH_EXCLUSION
			var filters []awsecr.ImageTagMutabilityExclusionFilter
			for _, t := range r.MutableTags {
				filters = append(filters, awsecr.ImageTagMutabilityExclusionFilter_Wildcard(jsii.String(t)))
			}
			props.ImageTagMutabilityExclusionFilters = &filters
		}
		if days := backstopDays(b.p.cfg.backstopDays, r); days > 0 {
			props.LifecycleRules = &[]*awsecr.LifecycleRule{{
				RulePriority: jsii.Number(1),
				Description:  jsii.String(fmt.Sprintf("ecrwarden backstop: expire untagged images after %d days (gc normally removes them first)", days)),
				TagStatus:    awsecr.TagStatus_UNTAGGED,
				MaxImageAge:  awscdk.Duration_Days(jsii.Number(float64(days))),
			}}
		}
		repo := awsecr.NewRepository(b.stack, jsii.String(b.uniqueID("Repository"+exportName(r.Name))), props)
		if r.Encryption != policy.EncryptionKMS {
			// CDK leaves AES256 (ECR's default) out of the template; say it
			// explicitly so a reviewer reads it off the template.
			repo.Node().DefaultChild().(awsecr.CfnRepository).SetEncryptionConfiguration(
				&awsecr.CfnRepository_EncryptionConfigurationProperty{EncryptionType: jsii.String("AES256")})
		}
		for _, grant := range []struct {
			names   []string
			sid     string
			actions []string
		}{
			{r.Access.Pull, "Pull", pullActions},
			{r.Access.Push, "Push", append(slices.Clone(pullActions), pushActions...)},
		} {
			for _, name := range grant.names {
				arn := policy.PrincipalARN(principals[name], *b.stack.Partition(), *b.stack.Account())
				repo.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Sid:        jsii.String(grant.sid + exportName(name)),
					Actions:    jsii.Strings(grant.actions...),
					Principals: &[]awsiam.IPrincipal{awsiam.NewArnPrincipal(jsii.String(arn))},
				}))
			}
		}
	}
}

// backstopDays is the age of the native untagged-image rule: the context's
// default, but never sooner than the policy's own untagged maxAge, so the
// backstop does not pre-empt gc. 0 leaves the rule out.
func backstopDays(configured int, r policy.Repository) int {
	if configured == 0 {
		return 0
	}
	days := configured
	for _, rule := range r.Retention {
		if rule.Untagged && rule.MaxAge > 0 {
			d := int(math.Ceil(rule.MaxAge.Std().Hours() / 24))
			days = max(days, d)
		}
	}
	return days
}

// registry sets the account-wide scanning and replication configuration.
func (b *builder) registry() {
	reg := b.p.policy.Registry
	if reg.Scanning != nil {
		rules := []any{}
		for _, r := range reg.Scanning.Rules {
			rules = append(rules, &awsecr.CfnRegistryScanningConfiguration_ScanningRuleProperty{
				ScanFrequency: jsii.String(string(r.Frequency)),
				RepositoryFilters: &[]any{&awsecr.CfnRegistryScanningConfiguration_RepositoryFilterProperty{
					Filter:     jsii.String(r.Filter),
					FilterType: jsii.String("WILDCARD"),
				}},
			})
		}
		awsecr.NewCfnRegistryScanningConfiguration(b.stack, jsii.String("RegistryScanning"), &awsecr.CfnRegistryScanningConfigurationProps{
			ScanType: jsii.String(string(reg.Scanning.Type)),
			Rules:    &rules,
		})
	}
	if len(reg.Replication) > 0 {
		var rules []any
		for _, r := range reg.Replication {
			var dests []any
			for _, d := range r.Destinations {
				dests = append(dests, &awsecr.CfnReplicationConfiguration_ReplicationDestinationProperty{
					Region: jsii.String(d.Region), RegistryId: jsii.String(d.RegistryID),
				})
			}
			rule := &awsecr.CfnReplicationConfiguration_ReplicationRuleProperty{Destinations: &dests}
			if r.Prefix != "" {
				rule.RepositoryFilters = &[]any{&awsecr.CfnReplicationConfiguration_RepositoryFilterProperty{
					Filter: jsii.String(r.Prefix), FilterType: jsii.String("PREFIX_MATCH"),
				}}
			}
			rules = append(rules, rule)
		}
		awsecr.NewCfnReplicationConfiguration(b.stack, jsii.String("RegistryReplication"), &awsecr.CfnReplicationConfigurationProps{
			ReplicationConfiguration: &awsecr.CfnReplicationConfiguration_ReplicationConfigurationProperty{Rules: &rules},
		})
	}
}

func (b *builder) repositoryARNs(names []string) []string {
	arns := make([]string, len(names))
	for i, n := range names {
		arns[i] = b.repositoryARN(n)
	}
	return arns
}

func (b *builder) repositoryARN(name string) string {
	return *b.stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("ecr"), Resource: jsii.String("repository"), ResourceName: jsii.String(name),
	})
}

func (b *builder) clusterARN(name string) string {
	return *b.stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("eks"), Resource: jsii.String("cluster"), ResourceName: jsii.String(name),
	})
}

// secretARN is the IAM resource of a secret given by name or ARN. A name
// matches the ARN Secrets Manager gives it: the name, a dash and six
// random characters.
func secretARN(stack awscdk.Stack, nameOrARN string) string {
	if strings.HasPrefix(nameOrARN, "arn:") {
		return nameOrARN
	}
	return *stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("secretsmanager"), Resource: jsii.String("secret"),
		ResourceName: jsii.String(nameOrARN + "-??????"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// allow is an Allow statement for actions on resources.
func allow(actions []string, resources ...string) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	})
}

// selectClusters returns the policy's clusters, limited to names when given.
func selectClusters(f *policy.File, names []string) ([]policy.Cluster, error) {
	if len(names) == 0 {
		return f.Clusters, nil
	}
	var out []policy.Cluster
	var errs []error
	for _, n := range names {
		c, ok := f.Cluster(n)
		if !ok {
			errs = append(errs, fmt.Errorf("context %s: cluster %q is not in the policy's clusters", ctxClusters, n))
			continue
		}
		out = append(out, *c)
	}
	return out, errors.Join(errs...)
}

// resolvePrincipals merges the policy's principals with context overrides
// and fails when a principal a managed repository grants access to has no
// value in either: the policy left it to the deployment.
func resolvePrincipals(f *policy.File, overrides map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(f.Principals))
	for k, v := range f.Principals {
		out[k] = v
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		if _, ok := f.Principals[k]; !ok {
			errs = append(errs, fmt.Errorf("context %s%s: the policy has no principal %q", ctxPrincipalPrefix, k, k))
			continue
		}
		out[k] = overrides[k]
	}
	missing := map[string][]string{}
	for _, r := range f.Repositories {
		if !r.Manage {
			continue
		}
		for _, name := range append(slices.Clone(r.Access.Pull), r.Access.Push...) {
			if out[name] == "" && !slices.Contains(missing[name], r.Name) {
				missing[name] = append(missing[name], r.Name)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(missing)) {
		errs = append(errs, fmt.Errorf("principal %q has no value in %s, and the access lists of %s name it: set -c %s%s=arn:aws:iam::<account>:role/<name>",
			name, f.Name(), strings.Join(missing[name], ", "), ctxPrincipalPrefix, name))
	}
	return out, errors.Join(errs...)
}

// repositoryOwnership decides whether this stack creates the policy's
// manage: true repositories. A repository name belongs to the registry (the
// account and Region), not to a stack: a second stack with another
// stackName cannot create the same repositories again; CloudFormation would
// fail on the first one that exists. The default stack creates them; any
// other must say which it is.
func repositoryOwnership(f *policy.File, cfg config) (bool, error) {
	var managed []string
	for _, r := range f.Repositories {
		if r.Manage {
			managed = append(managed, r.Name)
		}
	}
	switch {
	case cfg.manageRepositories != nil:
		return *cfg.manageRepositories, nil
	case len(managed) == 0 || cfg.stackName == defaultStackName:
		return true, nil
	}
	return false, fmt.Errorf("%s marks %s manage: true, and repository names belong to the registry (account and Region), not to a stack: only one stack can create them. "+
		"This stack is %q, not the default %q: say -c %s=false to guard them without creating them (their settings stay with the stack that created them), "+
		"or -c %s=true if this is the one stack that creates them",
		f.Name(), strings.Join(managed, ", "), cfg.stackName, defaultStackName, ctxManageRepositories, ctxManageRepositories)
}

// registryOptIn decides whether the stack manages the account-wide registry
// settings: only when the policy's registry.manage and the context's
// manageRegistry both say so. One without the other is a mistake worth
// stopping for, since these settings affect every repository in the account
// and Region.
func registryOptIn(f *policy.File, flag bool) (bool, error) {
	switch {
	case f.Registry.Manage && flag:
		return true, nil
	case f.Registry.Manage:
		return false, fmt.Errorf("%s: registry.manage is true, but the registry scanning and replication settings are account-wide: confirm with -c %s=true", f.Name(), ctxManageRegistry)
	case flag:
		return false, fmt.Errorf("context %s=true, but %s has registry.manage false: set it true to let this stack own the account-wide registry settings", ctxManageRegistry, f.Name())
	}
	return false, nil
}

// uniqueID returns base, or base with a number appended if base is taken:
// "a/b-c" and "a/b_c" have the same exportName.
func (b *builder) uniqueID(base string) string {
	id := base
	for n := 2; b.ids[id]; n++ {
		id = fmt.Sprintf("%s%d", base, n)
	}
	b.ids[id] = true
	return id
}

// exportName turns "mlops/retail-api" into "MlopsRetailApi" for construct ids.
func exportName(s string) string {
	var sb strings.Builder
	up := true
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			up = true
			continue
		}
		if up && 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		sb.WriteRune(r)
		up = false
	}
	return sb.String()
}

// ctxReconcileSchedule is the context key of the reconcile schedule: an
// EventBridge Scheduler expression, or "off" for none.
const ctxReconcileSchedule = "reconcileSchedule"

// defaultReconcileSchedule is how often onpush reconciles when the context
// does not say.
const defaultReconcileSchedule = "rate(15 minutes)"

// scheduleExpression accepts the rate(...) and cron(...) forms a recurring
// EventBridge Scheduler schedule takes.
var scheduleExpression = regexp.MustCompile(`^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$`)

// reconcileSchedule adds the schedule that invokes onpush to move tracked
// Deployments that lag behind the newest allowed image (ECR events are
// delivered best effort). Its failed invocations land in onpush's DLQ.
func (b *builder) reconcileSchedule(onpush *function) error {
	expr := defaultReconcileSchedule
	if v := b.stack.Node().TryGetContext(jsii.String(ctxReconcileSchedule)); v != nil {
		expr = strings.TrimSpace(fmt.Sprint(v))
	}
	if expr == "off" {
		return nil
	}
	if !scheduleExpression.MatchString(expr) {
		return fmt.Errorf("context %s: %q is not rate(...), cron(...) or off", ctxReconcileSchedule, expr)
	}
	role := b.schedulerRole("ReconcileSchedulerRole", "ecrwarden: EventBridge Scheduler invokes onpush to reconcile")
	awsscheduler.NewSchedule(b.stack, jsii.String("ReconcileSchedule"), &awsscheduler.ScheduleProps{
		Description:   jsii.String("ecrwarden reconcile: roll tracked Deployments to the newest allowed image"),
		ScheduleGroup: b.scheduleGroup(),
		Schedule:      awsscheduler.ScheduleExpression_Expression(jsii.String(expr), nil),
		Target: awsschedulertargets.NewLambdaInvoke(onpush.fn, &awsschedulertargets.ScheduleTargetBaseProps{
			Role:            role,
			DeadLetterQueue: onpush.dlq,
			RetryAttempts:   jsii.Number(asyncRetries),
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(1)),
			// The scheduled time names the run: patches carry "reconcile:<runId>".
			Input: awsscheduler.ScheduleTargetInput_FromObject(map[string]any{
				"action": "reconcile", "runId": awsscheduler.ContextAttribute_ScheduledTime(),
			}),
		}),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("CDK's LambdaInvoke target grants lambda:InvokeFunction on the onpush function's ARN and its qualified ARNs (<arn>:*, versions and aliases of that one function only)."),
		AppliesTo: &[]any{jsii.String("Resource::<" + *b.stack.GetLogicalId(onpush.fn.Node().DefaultChild().(awscdk.CfnElement)) + ".Arn>:*")},
	}}, jsii.Bool(true))
	return nil
}

// scheduleGroup is the stack's own schedule group, created on first use.
// Its name is generated from the stack's construct path, so a second stack
// gets another.
func (b *builder) scheduleGroup() awsscheduler.ScheduleGroup {
	if b.schedules == nil {
		b.schedules = awsscheduler.NewScheduleGroup(b.stack, jsii.String("Schedules"), &awsscheduler.ScheduleGroupProps{
			// Nothing is stored in a group; deleting the stack deletes it.
			RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
	}
	return b.schedules
}

// schedulerRole is a role only EventBridge Scheduler may assume, and only
// for the schedules of this stack's group in this account (the confused
// deputy protection AWS documents for Scheduler execution roles).
func (b *builder) schedulerRole(id, description string) awsiam.Role {
	trust := awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), nil).WithConditions(&map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": b.stack.Account()},
		"ArnEquals":    map[string]any{"aws:SourceArn": b.scheduleGroup().ScheduleGroupArn()},
	})
	return awsiam.NewRole(b.stack, jsii.String(id), &awsiam.RoleProps{AssumedBy: trust, Description: jsii.String(description)})
}

// inspectorFindings is the statement enhanced scanning needs: with
// Inspector as the registry's scanner, ECR's DescribeImageScanFindings also
// authorizes inspector2:ListFindings of the caller. The Service
// Authorization Reference lists no resource type and no condition key for
// inspector2:ListFindings, so "*" is the only resource it can be granted on.
func inspectorFindings() awsiam.PolicyStatement {
	return allow([]string{"inspector2:ListFindings"}, "*")
}

// suppressInspectorWildcard tells cdk-nag why f's policy has a "*" resource.
func suppressInspectorWildcard(f *function) {
	cdknag.NagSuppressions_AddResourceSuppressions(f.role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("inspector2:ListFindings (required by ecr:DescribeImageScanFindings with enhanced scanning) supports no resource-level permissions: its only resource is *."),
		AppliesTo: &[]any{jsii.String("Resource::*")},
	}}, jsii.Bool(true))
}

// Reserved concurrency: each function's ceiling, chosen by the load it sees.
// Throttled asynchronous invocations wait in Lambda's queue (retried for up
// to MaxEventAge, 6 hours) rather than fail, so a low ceiling delays work
// and never loses it. Together 5+3+6 = 14 of the account's concurrency; an
// account whose unreserved concurrency would fall below 100 refuses them
// (new accounts may start with a quota of 10): -c reservedConcurrency=false
// leaves them out (docs/operations.md).
const (
	// onpush: one event per pushed image manifest (a multi-arch push is the
	// index and each child), plus the reconcile every 15 minutes. CI pushes
	// a few images at a time; 5 in parallel patch at most 5 Deployments at
	// once, each idempotent.
	onpushConcurrency = 5
	// onscan: one event per basic scan, but Inspector sends one "Inspector2
	// Finding" event per finding (hundreds for one image), and each
	// invocation reads every page of the image's findings. 3 at a time keeps
	// that fan-out of paged DescribeImageScanFindings reads small, and the
	// later events of a burst see the complete finding set (one alert).
	onscanConcurrency = 3
	// gc: the scheduled run plus at most gcConcurrency fan-out messages
	// (the SQS event source's MaximumConcurrency, which must not exceed it).
	gcReservedConcurrency = gcConcurrency + 1
	// throttlePeriods: 5-minute periods of throttling before the alarm.
	throttlePeriods = 1
	// onscanThrottlePeriods: a burst of Inspector finding events queues
	// behind onscan's 3; 30 minutes of throttling in a row is a backlog.
	onscanThrottlePeriods = 6
)

// requiresCleanScan reports whether any deploy rule waits for a clean scan.
func requiresCleanScan(f *policy.File) bool {
	for _, r := range f.Repositories {
		for _, d := range r.Deploy {
			if d.RequireCleanScan {
				return true
			}
		}
	}
	return false
}

package ecrevent

// The EventBridge event patterns the CDK stack declares, as data in their
// JSON-decoded form (objects are map[string]any, arrays []any), so the stack, the
// emulated event bus and the tests share one definition.
//
// Each function takes the account whose events to route and the repository
// names. The account is the stack's own (the CDK token of AWS::AccountId in
// the stack; the emulated account in the sandbox), so an event forwarded from
// another account's bus never reaches a function; the functions check it again
// against their own identity (Origin.Check), since a direct invoke or a DLQ
// redrive bypasses the rule. An empty account leaves the account
// unconstrained, for tools only. An empty list of repositories leaves the
// repository unconstrained: the rule then matches that kind of event for
// every repository in the account and Region.

// PushPattern matches successful pushes ("ECR Image Action", action-type PUSH,
// result SUCCESS) to the given repositories.
func PushPattern(account string, repositories []string) map[string]any {
	detail := map[string]any{
		"action-type": []any{"PUSH"},
		"result":      []any{"SUCCESS"},
	}
	if len(repositories) > 0 {
		detail["repository-name"] = stringsToAny(repositories)
	}
	return withAccount(account, map[string]any{
		"source":      []any{SourceECR},
		"detail-type": []any{DetailTypeImageAction},
		"detail":      detail,
	})
}

// BasicScanPattern matches basic scan results ("ECR Image Scan") for the given
// repositories, whatever their scan-status, so a FAILED scan reaches the function.
func BasicScanPattern(account string, repositories []string) map[string]any {
	p := map[string]any{
		"source":      []any{SourceECR},
		"detail-type": []any{DetailTypeImageScan},
	}
	if len(repositories) > 0 {
		p["detail"] = map[string]any{"repository-name": stringsToAny(repositories)}
	}
	return withAccount(account, p)
}

// InspectorPattern matches enhanced-scanning events ("Inspector2 Scan" and
// "Inspector2 Finding") about images in the given repositories, and no Inspector
// event about EC2 instances or Lambda functions.
//
// The two detail types keep the repository in different detail fields (a Scan's
// repository-name is the repository ARN; a Finding has detail.resources[].id), but
// both put the image's ARN in the envelope's resources: a Scan lists the repository
// ARN, a Finding the repository ARN followed by "/sha256:<hex>". The pattern
// therefore matches resources with two wildcards per repository, independent of
// partition and Region (the envelope's account is constrained). Without
// repositories it matches any ECR resource.
func InspectorPattern(account string, repositories []string) map[string]any {
	var resources []any
	if len(repositories) == 0 {
		resources = []any{map[string]any{"wildcard": "arn:*:ecr:*:*:repository/*"}}
	}
	for _, name := range repositories {
		arn := "arn:*:ecr:*:*:repository/" + name
		resources = append(resources,
			map[string]any{"wildcard": arn},
			map[string]any{"wildcard": arn + "/sha256:*"},
		)
	}
	return withAccount(account, map[string]any{
		"source":      []any{SourceInspector2},
		"detail-type": []any{DetailTypeInspectorScan, DetailTypeInspectorFinding},
		"resources":   resources,
	})
}

// withAccount constrains the envelope's account, unless account is empty.
func withAccount(account string, p map[string]any) map[string]any {
	if account != "" {
		p["account"] = []any{account}
	}
	return p
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

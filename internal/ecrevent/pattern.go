package ecrevent

// The EventBridge event patterns the CDK stack declares, as data in their
// JSON-decoded form (objects are map[string]any, arrays []any), so the stack, the
// emulated event bus and the tests share one definition.
//
// Each function takes the repository names to route. An empty list leaves the
// repository unconstrained: the rule then matches that kind of event for every
// repository in the account and Region.

// PushPattern matches successful pushes ("ECR Image Action", action-type PUSH,
// result SUCCESS) to the given repositories.
func PushPattern(repositories []string) map[string]any {
	detail := map[string]any{
		"action-type": []any{"PUSH"},
		"result":      []any{"SUCCESS"},
	}
	if len(repositories) > 0 {
		detail["repository-name"] = stringsToAny(repositories)
	}
	return map[string]any{
		"source":      []any{SourceECR},
		"detail-type": []any{DetailTypeImageAction},
		"detail":      detail,
	}
}

// BasicScanPattern matches basic scan results ("ECR Image Scan") for the given
// repositories, whatever their scan-status, so a FAILED scan reaches the function.
func BasicScanPattern(repositories []string) map[string]any {
	p := map[string]any{
		"source":      []any{SourceECR},
		"detail-type": []any{DetailTypeImageScan},
	}
	if len(repositories) > 0 {
		p["detail"] = map[string]any{"repository-name": stringsToAny(repositories)}
	}
	return p
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
// partition, Region and account. Without repositories it matches any ECR resource.
func InspectorPattern(repositories []string) map[string]any {
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
	return map[string]any{
		"source":      []any{SourceInspector2},
		"detail-type": []any{DetailTypeInspectorScan, DetailTypeInspectorFinding},
		"resources":   resources,
	}
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

package ecrevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Event sources and detail types of the events this package understands.
const (
	SourceECR        = "aws.ecr"
	SourceInspector2 = "aws.inspector2"

	DetailTypeImageAction      = "ECR Image Action"
	DetailTypeImageScan        = "ECR Image Scan"
	DetailTypeInspectorScan    = "Inspector2 Scan"
	DetailTypeInspectorFinding = "Inspector2 Finding"

	// ResourceTypeECRImage is the Inspector2 resource type of an ECR container image.
	ResourceTypeECRImage = "AWS_ECR_CONTAINER_IMAGE"
)

// ErrMalformedEvent reports an event that is not a well-formed EventBridge envelope,
// or whose detail lacks or mistypes a field its kind requires.
var ErrMalformedEvent = errors.New("malformed event")

// ErrWrongKind reports an event handed to a decoder for another kind of event.
var ErrWrongKind = errors.New("wrong kind of event")

// Kind is what an event means to ecrwarden.
type Kind int

// The kinds of events. KindIgnored covers everything the functions must not act on.
const (
	// KindIgnored is an event ecrwarden does not act on (replication, pull through
	// cache, referrer, Inspector on EC2 or Lambda, any other source).
	KindIgnored Kind = iota
	// KindPush is an "ECR Image Action" with action-type PUSH and result SUCCESS.
	KindPush
	// KindPushFailure is an "ECR Image Action" with action-type PUSH and any other result.
	KindPushFailure
	// KindDelete is an "ECR Image Action" with action-type DELETE and result SUCCESS.
	KindDelete
	// KindStorageClass is an "ECR Image Action" with action-type UPDATE_STORAGE_CLASS
	// (archive or restore).
	KindStorageClass
	// KindBasicScan is an "ECR Image Scan" event from basic scanning.
	KindBasicScan
	// KindInspectorScan is an "Inspector2 Scan" event about an ECR image (enhanced scanning).
	KindInspectorScan
	// KindInspectorFinding is an "Inspector2 Finding" event about an ECR image.
	KindInspectorFinding
)

var kindNames = map[Kind]string{
	KindIgnored:          "ignored",
	KindPush:             "push",
	KindPushFailure:      "push-failure",
	KindDelete:           "delete",
	KindStorageClass:     "storage-class",
	KindBasicScan:        "basic-scan",
	KindInspectorScan:    "inspector-scan",
	KindInspectorFinding: "inspector-finding",
}

// String returns the kind's name as used in logs.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// classifyEnvelope holds the envelope fields and the few detail fields that
// classification looks at. Detail fields are decoded only after source and
// detail-type have been checked.
type classifyEnvelope struct {
	Source     *string         `json:"source"`
	DetailType *string         `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
}

type imageActionSelector struct {
	ActionType *string `json:"action-type"`
	Result     string  `json:"result"`
}

type inspectorScanSelector struct {
	RepositoryName string `json:"repository-name"`
	InstanceID     string `json:"instance-id"`
}

type inspectorFindingSelector struct {
	Resources []struct {
		Type string `json:"type"`
	} `json:"resources"`
}

// Classify returns the kind of the EventBridge event raw. It fails with
// ErrMalformedEvent on invalid JSON, on an envelope without source or detail-type,
// and on a missing or non-object detail; it never panics.
func Classify(raw []byte) (Kind, error) {
	k, _, err := ClassifyWithReason(raw)
	return k, err
}

// ClassifyWithReason is Classify that also says why, in a short phrase for logs
// ("ECR Replication Action is not acted on").
func ClassifyWithReason(raw []byte) (Kind, string, error) {
	var env classifyEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return KindIgnored, "", fmt.Errorf("%w: decode envelope: %w", ErrMalformedEvent, err)
	}
	switch {
	case env.Source == nil || *env.Source == "":
		return KindIgnored, "", fmt.Errorf("%w: envelope has no source", ErrMalformedEvent)
	case env.DetailType == nil || *env.DetailType == "":
		return KindIgnored, "", fmt.Errorf("%w: envelope has no detail-type", ErrMalformedEvent)
	}
	source, detailType := *env.Source, *env.DetailType
	switch source {
	case SourceECR:
		switch detailType {
		case DetailTypeImageAction:
			return classifyImageAction(env.Detail)
		case DetailTypeImageScan:
			if err := checkDetailObject(env.Detail, detailType); err != nil {
				return KindIgnored, "", err
			}
			return KindBasicScan, "basic scan result", nil
		}
	case SourceInspector2:
		switch detailType {
		case DetailTypeInspectorScan:
			return classifyInspectorScan(env.Detail)
		case DetailTypeInspectorFinding:
			return classifyInspectorFinding(env.Detail)
		}
	default:
		return KindIgnored, fmt.Sprintf("source %q is not acted on", source), nil
	}
	return KindIgnored, fmt.Sprintf("%s from %s is not acted on", detailType, source), nil
}

// checkDetailObject fails unless detail is a JSON object.
func checkDetailObject(detail json.RawMessage, detailType string) error {
	d := bytes.TrimSpace(detail)
	if len(d) == 0 || bytes.Equal(d, []byte("null")) {
		return fmt.Errorf("%w: %s has no detail", ErrMalformedEvent, detailType)
	}
	if d[0] != '{' {
		return fmt.Errorf("%w: %s detail is not an object", ErrMalformedEvent, detailType)
	}
	return nil
}

func decodeDetail(detail json.RawMessage, detailType string, v any) error {
	if err := checkDetailObject(detail, detailType); err != nil {
		return err
	}
	if err := json.Unmarshal(detail, v); err != nil {
		return fmt.Errorf("%w: decode %s detail: %w", ErrMalformedEvent, detailType, err)
	}
	return nil
}

func classifyImageAction(detail json.RawMessage) (Kind, string, error) {
	var d imageActionSelector
	if err := decodeDetail(detail, DetailTypeImageAction, &d); err != nil {
		return KindIgnored, "", err
	}
	if d.ActionType == nil || *d.ActionType == "" {
		return KindIgnored, "", fmt.Errorf("%w: %s detail has no action-type", ErrMalformedEvent, DetailTypeImageAction)
	}
	switch action := *d.ActionType; action {
	case "PUSH":
		if d.Result == "SUCCESS" {
			return KindPush, "image pushed", nil
		}
		return KindPushFailure, fmt.Sprintf("push with result %q", d.Result), nil
	case "DELETE":
		if d.Result == "SUCCESS" {
			return KindDelete, "image deleted", nil
		}
		return KindIgnored, fmt.Sprintf("delete with result %q is not acted on", d.Result), nil
	case "UPDATE_STORAGE_CLASS":
		return KindStorageClass, "image storage class changed", nil
	default:
		return KindIgnored, fmt.Sprintf("%s action-type %q is not acted on", DetailTypeImageAction, action), nil
	}
}

func classifyInspectorScan(detail json.RawMessage) (Kind, string, error) {
	var d inspectorScanSelector
	if err := decodeDetail(detail, DetailTypeInspectorScan, &d); err != nil {
		return KindIgnored, "", err
	}
	if d.RepositoryName == "" {
		what := "a resource that is not an ECR image"
		if d.InstanceID != "" {
			what = "EC2 instance " + d.InstanceID
		}
		return KindIgnored, fmt.Sprintf("%s of %s is not acted on", DetailTypeInspectorScan, what), nil
	}
	if !isECRRepositoryARN(d.RepositoryName) {
		return KindIgnored, "", fmt.Errorf("%w: %s repository-name %q is not an ECR repository ARN", ErrMalformedEvent, DetailTypeInspectorScan, d.RepositoryName)
	}
	return KindInspectorScan, "enhanced scan result", nil
}

func classifyInspectorFinding(detail json.RawMessage) (Kind, string, error) {
	var d inspectorFindingSelector
	if err := decodeDetail(detail, DetailTypeInspectorFinding, &d); err != nil {
		return KindIgnored, "", err
	}
	types := make([]string, 0, len(d.Resources))
	for _, r := range d.Resources {
		if r.Type == ResourceTypeECRImage {
			return KindInspectorFinding, "enhanced scan finding", nil
		}
		types = append(types, r.Type)
	}
	if len(types) == 0 {
		return KindIgnored, "", fmt.Errorf("%w: %s detail has no resources", ErrMalformedEvent, DetailTypeInspectorFinding)
	}
	return KindIgnored, fmt.Sprintf("%s on %s is not acted on", DetailTypeInspectorFinding, strings.Join(types, ", ")), nil
}

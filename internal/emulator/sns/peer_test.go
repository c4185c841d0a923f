package sns

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
)

// attributeCase is one message attribute published to a topic. want is
// "ok" or SNS's error code and message; moto is moto 5.2.1's answer ("ok"
// or "refused") where it differs, with the reason in why.
type attributeCase struct {
	name       string
	attrName   string
	value      types.MessageAttributeValue
	want, moto string
	why        string
}

func strAttr(typ, v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String(typ), StringValue: aws.String(v)}
}

func attributeCases() []attributeCase {
	const (
		docsName  = "the documented name rules (sns-message-attributes.html); moto checks no names"
		docsArray = "String.Array is a JSON array of strings, numbers, true, false and null (sns-message-attributes.html); moto checks no arrays"
	)
	long := strings.Repeat("a", 256)
	return []attributeCase{
		{name: "string", attrName: "repository", value: strAttr("String", "mlops/retail-api"), want: "ok"},
		{name: "number", attrName: "count", value: strAttr("Number", "-1.5e3"), want: "ok"},
		{name: "binary", attrName: "blob", value: types.MessageAttributeValue{DataType: aws.String("Binary"), BinaryValue: []byte{0, 1}}, want: "ok"},
		{name: "string array", attrName: "tags", value: strAttr("String.Array", `["v1", 2, true, false, null]`), want: "ok"},
		{name: "custom type label", attrName: "n", value: strAttr("Number.float", "1"), want: "ok"},
		{name: "name of every allowed character", attrName: "a-b_c.D9", value: strAttr("String", "v"), want: "ok"},
		{name: "name of 256 characters", attrName: long, value: strAttr("String", "v"), want: "ok"},
		{name: "documented reserved SMS attribute", attrName: "AWS.SNS.SMS.SMSType", value: strAttr("String", "Transactional"), want: "ok"},
		{name: "name of 257 characters", attrName: long + "a", value: strAttr("String", "v"),
			want: "ParameterValueInvalid: Length of message attribute name must be less than 256 bytes.", moto: "ok", why: docsName},
		{name: "name starting with a period", attrName: ".a", value: strAttr("String", "v"),
			want: "ParameterValueInvalid: Invalid message attribute name starting with character '.' was found.", moto: "ok", why: docsName},
		{name: "name ending with a period", attrName: "a.", value: strAttr("String", "v"),
			want: "ParameterValueInvalid: Invalid message attribute name ending with character '.' was found.", moto: "ok", why: docsName},
		{name: "successive periods", attrName: "a..b", value: strAttr("String", "v"),
			want: "ParameterValueInvalid: Message attribute name can not have successive '.' character.", moto: "ok", why: docsName},
		{name: "space in a name", attrName: "a b", value: strAttr("String", "v"),
			want: "ParameterValueInvalid: Invalid non-alphanumeric character '#x20' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.", moto: "ok", why: docsName},
		{name: "colon in a name", attrName: "ecr:repo", value: strAttr("String", "v"),
			want: "ParameterValueInvalid: Invalid non-alphanumeric character '#x3A' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.", moto: "ok", why: docsName},
		{name: "reserved AWS. prefix", attrName: "AWS.custom", value: strAttr("String", "v"),
			want: "ParameterValueInvalid: Message attribute names starting with 'AWS.' or 'Amazon.' are reserved for use by Amazon.", moto: "ok", why: docsName},
		{name: "reserved prefix in any case", attrName: "amazon.x", value: strAttr("String", "v"),
			want: "ParameterValueInvalid: Message attribute names starting with 'AWS.' or 'Amazon.' are reserved for use by Amazon.", moto: "ok", why: docsName},
		{name: "type is case-sensitive", attrName: "a", value: strAttr("string", "v"),
			want: "ParameterValueInvalid: The message attribute 'a' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."},
		{name: "unknown type", attrName: "a", value: strAttr("Date", "2026-01-01"),
			want: "ParameterValueInvalid: The message attribute 'a' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."},
		{name: "not a number", attrName: "a", value: strAttr("Number", "abc"), want: "ParameterValueInvalid: Could not cast message attribute 'a' value to number."},
		{name: "NaN is not a number", attrName: "a", value: strAttr("Number", "NaN"), want: "ParameterValueInvalid: Could not cast message attribute 'a' value to number.",
			moto: "ok", why: "\"Numbers are positive or negative integers or floating-point numbers\" (sns-message-attributes.html); moto casts with Python's float(), which reads NaN"},
		{name: "hexadecimal is not a number", attrName: "a", value: strAttr("Number", "0x10"), want: "ParameterValueInvalid: Could not cast message attribute 'a' value to number."},
		{name: "empty string value", attrName: "a", value: strAttr("String", ""),
			want: "ParameterValueInvalid: The message attribute 'a' must contain non-empty message attribute value for message attribute type 'String'."},
		{name: "binary type with a string value", attrName: "a", value: strAttr("Binary", "AAE="),
			want: "ParameterValueInvalid: The message attribute 'a' with type 'Binary' must use field 'Binary'.", moto: "ok",
			why: "a Binary attribute carries BinaryValue (API_MessageAttributeValue.html); moto takes either field"},
		{name: "string array that is not JSON", attrName: "tags", value: strAttr("String.Array", "v1, v2"),
			want: "ParameterValueInvalid: The message attribute 'tags' with type 'String.Array' must be a JSON array of strings, numbers, true, false or null.", moto: "ok", why: docsArray},
		{name: "string array that is a string", attrName: "tags", value: strAttr("String.Array", `"v1"`),
			want: "ParameterValueInvalid: The message attribute 'tags' with type 'String.Array' must be a JSON array of strings, numbers, true, false or null.", moto: "ok", why: docsArray},
		{name: "string array that is null", attrName: "tags", value: strAttr("String.Array", "null"),
			want: "ParameterValueInvalid: The message attribute 'tags' with type 'String.Array' must be a JSON array of strings, numbers, true, false or null.", moto: "ok", why: docsArray},
		{name: "string array of objects", attrName: "tags", value: strAttr("String.Array", `[{"a":1}]`),
			want: "ParameterValueInvalid: The message attribute 'tags' with type 'String.Array' must be a JSON array of strings, numbers, true, false or null.", moto: "ok", why: docsArray},
		{name: "string array of arrays", attrName: "tags", value: strAttr("String.Array", `[[1]]`),
			want: "ParameterValueInvalid: The message attribute 'tags' with type 'String.Array' must be a JSON array of strings, numbers, true, false or null.", moto: "ok", why: docsArray},
	}
}

// TestMessageAttributes publishes each case to the emulator and, as a
// second opinion, to moto in server mode with the same SDK client; moto's
// answer must be ours unless the case records why not.
func TestMessageAttributes(t *testing.T) {
	ctx := context.Background()
	s := start(t)
	ours, oursTopic := client(s, 1), s.CreateTopic("alerts")
	var peer *sns.Client
	var peerTopic string
	if moto != nil {
		peer = sns.NewFromConfig(emuhttp.ClientConfig(moto.URL, 1))
		out, err := peer.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("alerts")})
		if err != nil {
			t.Fatalf("moto CreateTopic: %v", err)
		}
		peerTopic = aws.ToString(out.TopicArn)
	}
	for _, tt := range attributeCases() {
		t.Run(tt.name, func(t *testing.T) {
			in := func(topic string) *sns.PublishInput {
				return &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("m"),
					MessageAttributes: map[string]types.MessageAttributeValue{tt.attrName: tt.value}}
			}
			_, err := ours.Publish(ctx, in(oursTopic))
			if got := publishOutcome(err); got != tt.want {
				t.Errorf("emulator:\n got %s\nwant %s", got, tt.want)
			}
			if peer == nil {
				return
			}
			want := tt.moto
			if want == "" {
				want = map[bool]string{true: "ok", false: "refused"}[tt.want == "ok"]
			}
			_, err = peer.Publish(ctx, in(peerTopic))
			got := "ok"
			if err != nil {
				got = "refused"
			}
			if got != want {
				t.Errorf("moto: got %s (%v), want %s (%s)", got, err, want, tt.why)
			}
		})
	}
}

func publishOutcome(err error) string {
	var ae smithy.APIError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ae):
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}

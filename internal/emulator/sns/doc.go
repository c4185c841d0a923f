// Package sns emulates the subset of Amazon SNS that ecrwarden uses:
// CreateTopic, Publish and PublishBatch, over the awsQuery protocol that the
// pinned aws-sdk-go-v2 SNS client (service/sns v1.48.0) sends: a
// form-encoded POST of Action=…&Version=2010-03-31&…, answered with an XML
// <OpResponse><OpResult>… document, and errors as
// <ErrorResponse><Error><Type/><Code/><Message/></Error></ErrorResponse>.
//
// Faithful:
//   - CreateTopic is idempotent by name and returns
//     arn:aws:sns:<region>:<account>:<name>; names are 1–256 letters, digits,
//     hyphens and underscores, with an optional .fifo suffix.
//   - Publish checks TopicArn (unknown topic → NotFound, HTTP 404), Message
//     (required), Subject (≤100 printable ASCII characters, no line breaks),
//     and the 262,144-byte limit on message plus attributes (→
//     InvalidParameter, HTTP 400). FIFO topics require MessageGroupId and
//     return a SequenceNumber.
//   - Message attributes (MessageAttributes.entry.N.Name/Value.DataType/
//     StringValue/BinaryValue) by the documented rules
//     (sns-message-attributes.html), refused with InvalidParameterValue
//     (code ParameterValueInvalid) and SNS's messages: names of at most 256
//     letters, digits, hyphens, underscores and periods, not starting or
//     ending with a period, without "..", not under the reserved AWS. or
//     Amazon. prefixes (except the documented AWS.SNS.MOBILE., AWS.SNS.SMS.
//     and AWS.MM.SMS. attributes); a data type String, Number or Binary
//     with an optional custom label; a non-empty value in the field the
//     type needs; a decimal Number; a String.Array that is a JSON array of
//     strings, numbers, true, false and null. peer_test.go checks every
//     case against moto in server mode and says where moto, which checks
//     only the type and the number, is more lenient.
//   - PublishBatch: 1–10 entries (EmptyBatchRequest,
//     TooManyEntriesInBatchRequest), distinct ids of ≤80 letters, digits,
//     hyphens and underscores (BatchEntryIdsNotDistinct, InvalidBatchEntryId),
//     ≤262,144 bytes in all (BatchRequestTooLong); an entry that fails its
//     own checks is listed in Failed with SenderFault true.
//   - Injected faults answer like SNS: throttling as Throttling (HTTP 400),
//     which the SDK retryer retries, or with [Options].ModeledThrottle as the
//     modeled ThrottledException (Throttled, HTTP 429), which the pinned
//     SDK's standard retryer does not retry; server errors as InternalError
//     (5xx).
//
// Not modelled: subscriptions and delivery, SMS and mobile push (PhoneNumber,
// TargetArn), MessageStructure=json, topic attributes, data protection
// policies, FIFO deduplication windows, the per-message attribute count
// limit, IAM and SigV4 (signatures are never verified).
//
// Published messages are recorded per topic; tests read them with
// [Server.Messages].
package sns

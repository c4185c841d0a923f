// Package secretsmanager emulates GetSecretValue of AWS Secrets Manager, which
// ecrwarden uses to read the Slack webhook URL, over the awsJson1_1 protocol
// the pinned aws-sdk-go-v2 client (service/secretsmanager v1.50.12) sends
// (POST /, X-Amz-Target secretsmanager.GetSecretValue; errors as
// {"__type": …, "message": …}).
//
// Faithful:
//   - Secrets are seeded from Go ([Server.PutSecret]) and found by name, by
//     full ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6
//     random characters>) or by partial ARN (without the suffix).
//   - Each PutSecret adds a version labelled AWSCURRENT and moves the label
//     AWSPREVIOUS to the version it replaces; VersionId and VersionStage
//     select a version. An unknown secret, version or label →
//     ResourceNotFoundException (HTTP 400).
//   - A missing SecretId → ValidationException; malformed JSON or a field of
//     the wrong type → SerializationException naming the field.
//   - Injected faults: ThrottlingException (HTTP 400), InternalServiceError
//     (5xx), dropped connections and latency.
//
// Not modelled: SecretBinary, every other operation (create, rotate,
// delete, policies), KMS, custom staging labels, and SigV4 (signatures are
// never verified).
package secretsmanager

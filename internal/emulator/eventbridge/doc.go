// Package eventbridge emulates the part of Amazon EventBridge that ecrwarden
// uses: PutEvents, over the awsJson1_1 protocol the pinned aws-sdk-go-v2
// client (service/eventbridge v1.55.11) sends (POST /, Content-Type
// application/x-amz-json-1.1, X-Amz-Target AWSEvents.PutEvents; errors as
// {"__type": …, "message": …}).
//
// Every accepted entry is recorded, per event bus, as the full envelope a
// rule target receives (version, id, detail-type, source, account, time,
// region, resources, detail) and handed to Go subscribers
// ([Server.Subscribe], [Server.SubscribeBus]) so that tests and the demo can
// route events to functions. Other emulators (ECR) put their AWS service
// events on a bus with [Server.PutEnvelope].
//
// Faithful:
//   - 1–10 entries per call (more or none → ValidationException, HTTP 400);
//     the total entry size, computed as the EventBridge user guide describes
//     (Time 14 bytes, Source, DetailType, Detail and each Resource by their
//     UTF-8 bytes), must stay under 256 KB or the call fails with
//     ValidationException.
//   - Per-entry failures: missing Source, DetailType or Detail →
//     InvalidArgument; Detail that is not a JSON object → MalformedDetail;
//     failed entries carry ErrorCode/ErrorMessage, the rest an EventId, and
//     FailedEntryCount counts the failures.
//   - EventBusName may be a name or an event-bus ARN; empty means "default".
//   - Malformed JSON or fields of the wrong type → SerializationException
//     naming the field; an unknown X-Amz-Target → UnknownOperationException.
//   - Injected faults: ThrottlingException (HTTP 400, retried by the SDK),
//     InternalException (5xx), dropped connections, latency, and per-entry
//     InternalFailure for a share of entries ([fault.Rule].ItemFailure).
//
// Not modelled: rules, targets, archives, replays, global endpoints
// (EndpointId is ignored), trace headers, event buses other than those
// created with [Server.CreateBus] (an entry for an unknown bus fails with
// ResourceNotFoundException — an emulator choice, not verified against AWS),
// and SigV4 (signatures are never verified). Subscribers run synchronously,
// in order, before PutEvents answers; real EventBridge delivers
// asynchronously, at least once and in no guaranteed order.
package eventbridge

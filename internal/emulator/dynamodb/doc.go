// Package dynamodb emulates the subset of Amazon DynamoDB that ecrwarden's
// idempotency records need, over the awsJson1_0 protocol the pinned
// aws-sdk-go-v2 client (service/dynamodb v1.74.0) sends (POST /,
// X-Amz-Target DynamoDB_20120810.<Op>; errors as {"__type":
// "com.amazonaws.dynamodb.v20120810#<Name>", "message": …}). Every response
// carries the X-Amz-Crc32 header (CRC-32/IEEE of the body) that the client
// validates by default.
//
// Operations: CreateTable, DescribeTable, UpdateTimeToLive,
// DescribeTimeToLive, PutItem, GetItem, DeleteItem and UpdateItem (update.go:
// SET with + and - and if_not_exists, ADD on numbers and sets, REMOVE; the
// ConditionExpression of the other writes; ReturnValues ALL_OLD, ALL_NEW,
// UPDATED_OLD, UPDATED_NEW; gc's run-wide deletion counter uses it).
//
// Faithful:
//   - Attribute values S, N, B, BOOL, NULL, M, L, SS, NS and BS; a value
//     with none or several of these → ValidationException. Key attributes
//     must be present with the type of the table's AttributeDefinitions, and
//     GetItem/DeleteItem keys must hold exactly the key schema; numbers in
//     keys compare by value ("1" = "1.0"). Items are limited to 400 KB
//     (approximated as the bytes of names and values).
//   - ConditionExpression on PutItem and DeleteItem, the whole grammar of
//     the guide's "Comparison operator and function reference": =, <>, <,
//     <=, >, >=, BETWEEN, IN (up to 100 values), AND, OR, NOT, parentheses,
//     attribute_exists, attribute_not_exists, attribute_type, begins_with,
//     contains and size, over nested document paths (a.b[0].c, #aliases
//     anywhere, ≤32 levels). = and <> compare every type (numbers by value,
//     sets in any order, lists and maps deeply); <> against a missing
//     attribute is true; <, <=, >, >= and BETWEEN order N, S and B only.
//     The full list of 573 reserved words. Invalid expressions answer
//     ValidationException with DynamoDB's messages (syntax errors with
//     token and "near", redundant parentheses, unknown, misused or
//     mistyped functions, operand counts, a path compared with itself, an
//     empty BETWEEN range, undefined, unused or malformed names and
//     values); peer_test.go holds every case, checked against moto in
//     server mode, with the reason wherever the emulator and moto differ.
//     A failed condition → ConditionalCheckFailedException (HTTP 400), with
//     the old Item when ReturnValuesOnConditionCheckFailure is ALL_OLD.
//   - ReturnValues NONE and ALL_OLD; ConsistentRead is accepted (every read
//     is consistent here).
//   - Unknown table → ResourceNotFoundException; CreateTable of an existing
//     table → ResourceInUseException. Tables are ACTIVE at once.
//   - Malformed JSON or a field of the wrong type → SerializationException
//     naming the field.
//   - Injected faults: ThrottlingException (HTTP 400, retried by the SDK),
//     InternalServerError (5xx), dropped connections and latency.
//
// Time to live: the TTL attribute of a table (UpdateTimeToLive or
// [Server.SetTTL]) holds epoch seconds as N. By default an item whose TTL is
// at or before now is treated as absent: GetItem does not return it and a
// condition sees no item, and PutItem overwrites it. Real DynamoDB deletes
// expired items lazily, typically within days, and until then they still
// appear in reads and still satisfy attribute_exists; set
// [Options].LazyTTL to get that behaviour (expired items stay visible) and
// test that code filters on the TTL itself.
//
// Not modelled: Query, Scan, batch and transactional
// operations, indexes, streams, ProjectionExpression, the legacy Expected
// and ConditionalOperator parameters (→ ValidationException), capacity
// accounting, and SigV4 (signatures are never verified).
package dynamodb

package dynamodb

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// maxItemBytes is DynamoDB's item size limit: "The maximum item size in
// DynamoDB is 400 KB, which includes both attribute name binary length (UTF-8
// length) and attribute value lengths (again binary length)"
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
const maxItemBytes = 400 * 1024

// maxBodyBytes bounds how much of a request body is read.
const maxBodyBytes = 4 << 20

const errPrefix = "com.amazonaws.dynamodb.v20120810#"

// Options configures a [Server].
type Options struct {
	// Region is used in table ARNs; default ap-southeast-1.
	Region string
	// AccountID is used in table ARNs; default 123456789012.
	AccountID string
	// Seed seeds the fault injector.
	Seed uint64
	// Now returns the time TTL attributes are compared with; default time.Now.
	Now func() time.Time
	// LazyTTL keeps expired items visible, as real DynamoDB does until its
	// background process deletes them. By default they are hidden.
	LazyTTL bool
}

type keyElem struct {
	name, typ string // typ from AttributeDefinitions: S, N or B
	hash      bool
}

type table struct {
	name, arn string
	created   time.Time
	keys      []keyElem // HASH first
	attrDefs  []attrDef
	ttlAttr   string
	items     map[string]map[string]json.RawMessage
}

// Server is the DynamoDB emulator, an [http.Handler]. It is safe for
// concurrent use.
type Server struct {
	region, account string
	now             func() time.Time
	lazyTTL         bool
	faults          *fault.Injector
	log             *fault.Log
	gate            fault.Gate
	guard           authz.Guard

	mu     sync.Mutex
	tables map[string]*table

	emulator.Listener
}

// New returns a DynamoDB emulator without tables.
func New(o Options) *Server {
	if o.Region == "" {
		o.Region = "ap-southeast-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{region: o.Region, account: o.AccountID, now: o.Now, lazyTTL: o.LazyTTL, faults: fault.New(o.Seed), log: &fault.Log{}, tables: map[string]*table{}}
	s.gate = fault.Gate{Injector: s.faults, Log: s.log, Write: writeFault}
	return s
}

// Faults returns the fault injector; operation names are DynamoDB actions
// ("PutItem").
func (s *Server) Faults() *fault.Injector { return s.faults }

// Calls returns the call log.
func (s *Server) Calls() *fault.Log { return s.log }

// CreateTable creates a table whose hash key hashKey has type S, N or B, as
// CreateTable would with on-demand billing.
func (s *Server) CreateTable(name, hashKey, hashType string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tables[name]; ok {
		return fmt.Errorf("table %s already exists", name)
	}
	s.tables[name] = s.newTable(name, []keyElem{{name: hashKey, typ: hashType, hash: true}}, []attrDef{{AttributeName: hashKey, AttributeType: hashType}})
	return nil
}

func (s *Server) newTable(name string, keys []keyElem, defs []attrDef) *table {
	return &table{
		name: name, arn: fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", s.region, s.account, name),
		created: s.now().UTC(), keys: keys, attrDefs: defs, items: map[string]map[string]json.RawMessage{},
	}
}

// SetTTL makes attr the time-to-live attribute of table, as UpdateTimeToLive
// would.
func (s *Server) SetTTL(tableName, attr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[tableName]
	if !ok {
		return fmt.Errorf("table %s does not exist", tableName)
	}
	t.ttlAttr = attr
	return nil
}

// ItemCount returns the number of items stored in table, expired ones
// included.
func (s *Server) ItemCount(tableName string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tables[tableName]; ok {
		return len(t.items)
	}
	return 0
}

// Start serves s on addr ("127.0.0.1:0" picks a free port) and returns the
// base URL to use as the SDK client's BaseEndpoint. URL and Close come with
// the embedded emulator.Listener.
func (s *Server) Start(addr string) (string, error) { return s.Listener.Serve(addr, s) }

// apiError is a DynamoDB error response.
type apiError struct {
	status int
	typ    string
	msg    string
	item   map[string]json.RawMessage
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func validation(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "ValidationException", msg: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"__type": errPrefix + e.typ, "message": e.msg}
	if e.item != nil {
		body["Item"] = e.item
	}
	b, _ := json.Marshal(body)
	writeJSON(w, e.status, b)
}

// writeJSON writes an awsJson1_0 response with the X-Amz-Crc32 header the
// DynamoDB client validates.
func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeFault(w http.ResponseWriter, k fault.Kind, status int) {
	if k == fault.Throttle {
		writeError(w, &apiError{status: status, typ: "ThrottlingException", msg: "Rate of requests exceeds the allowed throughput."})
		return
	}
	writeError(w, &apiError{status: status, typ: "InternalServerError", msg: "Internal server error"})
}

// ServeHTTP serves one awsJson1_0 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(body) > maxBodyBytes {
		writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, typ: "SerializationException", msg: "request body too large or unreadable"})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "DynamoDB_20120810.")
	if !ok {
		s.log.Record(target, body)
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "UnknownOperationException", msg: fmt.Sprintf("unknown X-Amz-Target %q", target)})
		return
	}
	if !s.gate.Admit(w, r, op, body) {
		return
	}
	if !s.authorize(w, r, op, body) {
		return
	}
	var out any
	var aerr *apiError
	switch op {
	case "CreateTable":
		out, aerr = s.createTable(body)
	case "DescribeTable":
		out, aerr = s.describeTable(body)
	case "UpdateTimeToLive":
		out, aerr = s.updateTimeToLive(body)
	case "DescribeTimeToLive":
		out, aerr = s.describeTimeToLive(body)
	case "PutItem":
		out, aerr = s.putItem(body)
	case "GetItem":
		out, aerr = s.getItem(body)
	case "DeleteItem":
		out, aerr = s.deleteItem(body)
	case "UpdateItem":
		out, aerr = s.updateItem(body)
	default:
		aerr = &apiError{status: http.StatusBadRequest, typ: "UnknownOperationException", msg: fmt.Sprintf("operation %s is not supported by this emulator", op)}
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, &apiError{status: http.StatusInternalServerError, typ: "InternalServerError", msg: "marshal response"})
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// decode unmarshals an awsJson body; its error names the offending field.
func decode(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	err := json.Unmarshal(body, v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return &apiError{status: http.StatusBadRequest, typ: "SerializationException", msg: fmt.Sprintf("cannot deserialize field %s: expected %s, got JSON %s", te.Field, te.Type, te.Value)}
	default:
		return &apiError{status: http.StatusBadRequest, typ: "SerializationException", msg: "malformed JSON body: " + err.Error()}
	}
}

func (s *Server) table(name string) (*table, *apiError) {
	if name == "" {
		return nil, validation("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	}
	t, ok := s.tables[name]
	if !ok {
		return nil, &apiError{status: http.StatusBadRequest, typ: "ResourceNotFoundException", msg: "Requested resource not found: Table: " + name + " not found"}
	}
	return t, nil
}

type attrDef struct {
	AttributeName string `json:"AttributeName"`
	AttributeType string `json:"AttributeType"`
}

type keySchemaElem struct {
	AttributeName string `json:"AttributeName"`
	KeyType       string `json:"KeyType"`
}

type createTableInput struct {
	TableName            string          `json:"TableName"`
	KeySchema            []keySchemaElem `json:"KeySchema"`
	AttributeDefinitions []attrDef       `json:"AttributeDefinitions"`
	BillingMode          string          `json:"BillingMode"`
}

var tableNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

func (s *Server) createTable(body []byte) (any, *apiError) {
	var in createTableInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !tableNameRE.MatchString(in.TableName) {
		return nil, validation("1 validation error detected: Value '%s' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 3 and 255", in.TableName)
	}
	types := map[string]string{}
	for _, d := range in.AttributeDefinitions {
		if d.AttributeType != "S" && d.AttributeType != "N" && d.AttributeType != "B" {
			return nil, validation("1 validation error detected: Value '%s' at 'attributeDefinitions.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]", d.AttributeType)
		}
		types[d.AttributeName] = d.AttributeType
	}
	var keys []keyElem
	switch {
	case len(in.KeySchema) == 1 && in.KeySchema[0].KeyType == "HASH":
		keys = []keyElem{{name: in.KeySchema[0].AttributeName, hash: true}}
	case len(in.KeySchema) == 2 && in.KeySchema[0].KeyType == "HASH" && in.KeySchema[1].KeyType == "RANGE":
		keys = []keyElem{{name: in.KeySchema[0].AttributeName, hash: true}, {name: in.KeySchema[1].AttributeName}}
	default:
		return nil, validation("Invalid KeySchema: the KeySchema must be one HASH key, optionally followed by one RANGE key")
	}
	for i := range keys {
		typ, ok := types[keys[i].name]
		if !ok {
			return nil, validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: %v", keys[i].name, in.AttributeDefinitions)
		}
		keys[i].typ = typ
	}
	if len(in.AttributeDefinitions) != len(keys) {
		return nil, validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tables[in.TableName]; ok {
		return nil, &apiError{status: http.StatusBadRequest, typ: "ResourceInUseException", msg: "Table already exists: " + in.TableName}
	}
	t := s.newTable(in.TableName, keys, in.AttributeDefinitions)
	s.tables[in.TableName] = t
	return map[string]any{"TableDescription": describe(t)}, nil
}

func describe(t *table) map[string]any {
	var ks []keySchemaElem
	for _, k := range t.keys {
		kt := "RANGE"
		if k.hash {
			kt = "HASH"
		}
		ks = append(ks, keySchemaElem{AttributeName: k.name, KeyType: kt})
	}
	return map[string]any{
		"TableName":            t.name,
		"TableArn":             t.arn,
		"TableStatus":          "ACTIVE",
		"KeySchema":            ks,
		"AttributeDefinitions": t.attrDefs,
		"CreationDateTime":     float64(t.created.UnixMilli()) / 1000,
		"ItemCount":            len(t.items),
		"BillingModeSummary":   map[string]any{"BillingMode": "PAY_PER_REQUEST"},
	}
}

type tableNameInput struct {
	TableName string `json:"TableName"`
}

func (s *Server) describeTable(body []byte) (any, *apiError) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Table": describe(t)}, nil
}

type ttlSpec struct {
	AttributeName string `json:"AttributeName"`
	Enabled       *bool  `json:"Enabled"`
}

func (s *Server) updateTimeToLive(body []byte) (any, *apiError) {
	var in struct {
		TableName               string   `json:"TableName"`
		TimeToLiveSpecification *ttlSpec `json:"TimeToLiveSpecification"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	spec := in.TimeToLiveSpecification
	if spec == nil || spec.AttributeName == "" || spec.Enabled == nil {
		return nil, validation("1 validation error detected: Value null at 'timeToLiveSpecification' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	switch {
	case *spec.Enabled && t.ttlAttr != "":
		return nil, validation("TimeToLive is already enabled")
	case !*spec.Enabled && t.ttlAttr == "":
		return nil, validation("TimeToLive is already disabled")
	case *spec.Enabled:
		t.ttlAttr = spec.AttributeName
	default:
		t.ttlAttr = ""
	}
	return map[string]any{"TimeToLiveSpecification": spec}, nil
}

func (s *Server) describeTimeToLive(body []byte) (any, *apiError) {
	var in tableNameInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.table(in.TableName)
	if err != nil {
		return nil, err
	}
	if t.ttlAttr == "" {
		return map[string]any{"TimeToLiveDescription": map[string]any{"TimeToLiveStatus": "DISABLED"}}, nil
	}
	return map[string]any{"TimeToLiveDescription": map[string]any{"TimeToLiveStatus": "ENABLED", "AttributeName": t.ttlAttr}}, nil
}

// parseItem validates every attribute value of an item or key.
func parseItem(item map[string]json.RawMessage, field string) (map[string]*value, map[string]string, *apiError) {
	vals := make(map[string]*value, len(item))
	types := make(map[string]string, len(item))
	size := 0
	for name, raw := range item {
		if name == "" {
			return nil, nil, validation("One or more parameter values were invalid: An AttributeName in %s is empty", field)
		}
		v, typ, err := parseValue(raw, field+"."+name, 1)
		if err != nil {
			return nil, nil, err
		}
		vals[name], types[name] = v, typ
		size += len(name) + len(raw)
	}
	if size > maxItemBytes {
		return nil, nil, validation("Item size has exceeded the maximum allowed size")
	}
	return vals, types, nil
}

// keyOf returns the storage key of item in t, checking the key attributes.
// exact requires the item to hold nothing but the key (GetItem, DeleteItem).
func (t *table) keyOf(item map[string]json.RawMessage, field string, exact bool) (string, *apiError) {
	vals, types, err := parseItem(item, field)
	if err != nil {
		return "", err
	}
	if exact && len(item) != len(t.keys) {
		return "", validation("The provided key element does not match the schema")
	}
	var parts []string
	for _, k := range t.keys {
		v, ok := vals[k.name]
		if !ok {
			if exact {
				return "", validation("The provided key element does not match the schema")
			}
			return "", validation("One or more parameter values were invalid: Missing the key %s in the item", k.name)
		}
		if types[k.name] != k.typ {
			return "", validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", k.name, k.typ, types[k.name])
		}
		var canon string
		switch k.typ {
		case "S":
			canon = *v.S
		case "N":
			canon, _ = canonicalNumber(*v.N)
		case "B":
			canon = *v.B
		}
		if canon == "" {
			return "", validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", k.name)
		}
		parts = append(parts, k.typ+":"+strconv.Quote(canon))
	}
	return strings.Join(parts, "|"), nil
}

// current returns the live item at key, or nil if there is none or it has
// expired (unless LazyTTL).
func (s *Server) current(t *table, key string) map[string]json.RawMessage {
	item, ok := t.items[key]
	if !ok {
		return nil
	}
	if t.ttlAttr == "" || s.lazyTTL {
		return item
	}
	raw, ok := item[t.ttlAttr]
	if !ok {
		return item
	}
	var v value
	if json.Unmarshal(raw, &v) != nil || v.N == nil {
		return item // a TTL attribute that is not a number never expires
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(*v.N), 64)
	if err != nil {
		return item
	}
	if int64(f) <= s.now().Unix() {
		return nil
	}
	return item
}

type writeInput struct {
	TableName                           string                     `json:"TableName"`
	Item                                map[string]json.RawMessage `json:"Item"`
	Key                                 map[string]json.RawMessage `json:"Key"`
	ConditionExpression                 *string                    `json:"ConditionExpression"`
	ExpressionAttributeNames            map[string]string          `json:"ExpressionAttributeNames"`
	ExpressionAttributeValues           map[string]json.RawMessage `json:"ExpressionAttributeValues"`
	ReturnValues                        string                     `json:"ReturnValues"`
	ReturnValuesOnConditionCheckFailure string                     `json:"ReturnValuesOnConditionCheckFailure"`
	Expected                            json.RawMessage            `json:"Expected"`
	ConditionalOperator                 string                     `json:"ConditionalOperator"`
	ReturnConsumedCapacity              string                     `json:"ReturnConsumedCapacity"`
	ReturnItemCollectionMetrics         string                     `json:"ReturnItemCollectionMetrics"`
}

func (in *writeInput) check() (condition, *apiError) {
	if in.Expected != nil || in.ConditionalOperator != "" {
		return nil, validation("the legacy parameters Expected and ConditionalOperator are not supported by this emulator; use ConditionExpression")
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'returnValues' failed to satisfy constraint: this emulator supports NONE and ALL_OLD", in.ReturnValues)
	}
	if aerr := checkReturnOnFailure(in.ReturnValuesOnConditionCheckFailure); aerr != nil {
		return nil, aerr
	}
	return parseCondition(in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues)
}

// The bookkeeping PutItem, DeleteItem, GetItem and UpdateItem share.

// nullMember is the validation error of a required member sent as null
// (field is its name in the message: key, item).
func nullMember(field string) *apiError {
	return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

// checkReturnOnFailure validates ReturnValuesOnConditionCheckFailure.
func checkReturnOnFailure(v string) *apiError {
	switch v {
	case "", "NONE", "ALL_OLD":
		return nil
	}
	return validation("1 validation error detected: Value '%s' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must satisfy enum value set: [ALL_OLD, NONE]", v)
}

// itemKey finds the table and the key of the item attrs names (field is
// its name in validation messages; exact: attrs must be the key and nothing
// else). s.mu must be held: the caller goes on to read or write the item.
func (s *Server) itemKey(tableName string, attrs map[string]json.RawMessage, field string, exact bool) (*table, string, *apiError) {
	t, aerr := s.table(tableName)
	if aerr != nil {
		return nil, "", aerr
	}
	key, aerr := t.keyOf(attrs, field, exact)
	if aerr != nil {
		return nil, "", aerr
	}
	return t, key, nil
}

// conditionFailed is the ConditionalCheckFailedException of a write whose
// condition does not hold on old, carrying old when returnOnFailure (the
// request's ReturnValuesOnConditionCheckFailure) is ALL_OLD.
func conditionFailed(returnOnFailure string, old map[string]json.RawMessage) *apiError {
	e := &apiError{status: http.StatusBadRequest, typ: "ConditionalCheckFailedException", msg: "The conditional request failed"}
	if returnOnFailure == "ALL_OLD" && old != nil {
		e.item = old
	}
	return e
}

func (s *Server) putItem(body []byte) (any, *apiError) {
	return s.conditionalWrite(body, "item", func(in *writeInput) (map[string]json.RawMessage, string, bool) {
		return in.Item, "Item", false
	}, func(t *table, key string, in *writeInput) { t.items[key] = in.Item })
}

func (s *Server) getItem(body []byte) (any, *apiError) {
	var in struct {
		TableName                string                     `json:"TableName"`
		Key                      map[string]json.RawMessage `json:"Key"`
		ConsistentRead           *bool                      `json:"ConsistentRead"`
		ProjectionExpression     *string                    `json:"ProjectionExpression"`
		AttributesToGet          []string                   `json:"AttributesToGet"`
		ExpressionAttributeNames map[string]string          `json:"ExpressionAttributeNames"`
		ReturnConsumedCapacity   string                     `json:"ReturnConsumedCapacity"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ProjectionExpression != nil || in.AttributesToGet != nil {
		return nil, validation("ProjectionExpression and AttributesToGet are not supported by this emulator")
	}
	if in.ExpressionAttributeNames != nil {
		return nil, validation("ExpressionAttributeNames can only be specified when using expressions")
	}
	if in.Key == nil {
		return nil, nullMember("key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, key, aerr := s.itemKey(in.TableName, in.Key, "Key", true)
	if aerr != nil {
		return nil, aerr
	}
	if item := s.current(t, key); item != nil {
		return map[string]any{"Item": item}, nil
	}
	return map[string]any{}, nil
}

func (s *Server) deleteItem(body []byte) (any, *apiError) {
	return s.conditionalWrite(body, "key", func(in *writeInput) (map[string]json.RawMessage, string, bool) {
		return in.Key, "Key", true
	}, func(t *table, key string, _ *writeInput) { delete(t.items, key) })
}

// conditionalWrite is PutItem and DeleteItem: decode, validate the
// condition, find the item by the key in the field keyOf names (field is
// its name in validation messages), check the condition against the
// current item, then write.
func (s *Server) conditionalWrite(body []byte, field string, keyOf func(*writeInput) (map[string]json.RawMessage, string, bool),
	write func(t *table, key string, in *writeInput)) (any, *apiError) {
	var in writeInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	attrs, path, keyOnly := keyOf(&in)
	if attrs == nil {
		return nil, nullMember(field)
	}
	cond, aerr := in.check()
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, key, aerr := s.itemKey(in.TableName, attrs, path, keyOnly)
	if aerr != nil {
		return nil, aerr
	}
	old := s.current(t, key)
	if cond != nil && !cond.holds(old) {
		return nil, conditionFailed(in.ReturnValuesOnConditionCheckFailure, old)
	}
	write(t, key, &in)
	out := map[string]any{}
	if in.ReturnValues == "ALL_OLD" && old != nil {
		out["Attributes"] = old
	}
	return out, nil
}

// newRequestID returns a random request id.
func newRequestID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(strings.TrimRight(base64.StdEncoding.EncodeToString(b[:]), "="))[:40]
}

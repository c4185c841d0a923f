package sns

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// maxMessageBytes is the SNS limit on one message including its attributes,
// and on the sum of the messages of one PublishBatch call: "Messages must be
// UTF-8 encoded strings and at most 256 KB in size (262,144 bytes, not 262,144
// characters)" (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html,
// https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html).
const maxMessageBytes = 262144

// maxSubjectChars is the Subject limit: "must be ASCII text that begins with
// a letter, number, or punctuation mark; must not include line breaks or
// control characters; and must be less than 100 characters long"
// (API_Publish.html). Real SNS accepts exactly 100.
const maxSubjectChars = 100

// maxBatchEntries is the PublishBatch limit of 10 entries (API_PublishBatch.html).
const maxBatchEntries = 10

// maxBodyBytes bounds how much of a request body is read.
const maxBodyBytes = 4 << 20

var (
	topicNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	batchIDRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
)

// Attribute is one message attribute of a published message.
type Attribute struct {
	// DataType is String, String.Array, Number or Binary (optionally with a
	// custom suffix such as Number.float).
	DataType string
	// StringValue is the value of a String, String.Array or Number attribute.
	StringValue string
	// BinaryValue is the decoded value of a Binary attribute.
	BinaryValue []byte
}

// Message is one message accepted by Publish or PublishBatch.
type Message struct {
	// MessageID is the id SNS returned for the message.
	MessageID string
	// TopicArn is the topic the message was published to.
	TopicArn string
	// Subject is the optional subject.
	Subject string
	// Message is the message body.
	Message string
	// Attributes are the message attributes by name.
	Attributes map[string]Attribute
	// MessageGroupID is the FIFO message group, if any.
	MessageGroupID string
	// SequenceNumber is set for messages of FIFO topics.
	SequenceNumber string
}

// Options configures a [Server].
type Options struct {
	// Region is used in topic ARNs; default ap-southeast-1.
	Region string
	// AccountID is used in topic ARNs; default 123456789012.
	AccountID string
	// Seed seeds the fault injector.
	Seed uint64
	// ModeledThrottle makes injected throttling answer with SNS's modeled
	// ThrottledException (code Throttled, HTTP 429) instead of the generic
	// Throttling (HTTP 400). The SDK's standard retryer does not retry the
	// modeled one unless "Throttled" is added to its retryable codes.
	ModeledThrottle bool
}

// Server is the SNS emulator, an [http.Handler]. It is safe for concurrent
// use.
type Server struct {
	region, account string
	faults          *fault.Injector
	log             *fault.Log
	gate            fault.Gate
	guard           authz.Guard

	mu       sync.Mutex
	topics   map[string]bool // by ARN
	messages map[string][]Message
	keys     map[string]string // topic ARN → KMS key ARN
	seq      uint64

	emulator.Listener
}

// New returns an SNS emulator without topics.
func New(o Options) *Server {
	if o.Region == "" {
		o.Region = "ap-southeast-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	s := &Server{
		region:   o.Region,
		account:  o.AccountID,
		faults:   fault.New(o.Seed),
		log:      &fault.Log{},
		topics:   make(map[string]bool),
		messages: make(map[string][]Message),
	}
	write := writeFault
	if o.ModeledThrottle {
		write = writeModeledFault
	}
	s.gate = fault.Gate{Injector: s.faults, Log: s.log, Write: write}
	return s
}

// Faults returns the fault injector; operation names are SNS actions
// ("Publish").
func (s *Server) Faults() *fault.Injector { return s.faults }

// Calls returns the call log.
func (s *Server) Calls() *fault.Log { return s.log }

// TopicARN returns the ARN a topic named name has (whether or not it exists).
func (s *Server) TopicARN(name string) string {
	return fmt.Sprintf("arn:aws:sns:%s:%s:%s", s.region, s.account, name)
}

// CreateTopic creates the topic name, as the CreateTopic action would, and
// returns its ARN.
func (s *Server) CreateTopic(name string) string {
	arn := s.TopicARN(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.topics[arn] = true
	return arn
}

// Messages returns a copy of the messages published to topicArn, in order.
func (s *Server) Messages(topicArn string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages[topicArn]))
	copy(out, s.messages[topicArn])
	return out
}

// Start serves s on addr ("127.0.0.1:0" picks a free port) and returns the
// base URL to use as the SDK client's BaseEndpoint. URL and Close come with
// the embedded emulator.Listener.
func (s *Server) Start(addr string) (string, error) { return s.Listener.Serve(addr, s) }

// apiError is an SNS error response.
type apiError struct {
	status int
	typ    string // Sender or Receiver
	code   string
	msg    string
}

func invalidParameter(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "Sender", code: "InvalidParameter", msg: fmt.Sprintf(format, args...)}
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeXML(w, e.status, errorResponse{Xmlns: xmlns, Type: e.typ, Code: e.code, Message: e.msg, RequestID: emulator.RequestID()})
}

// writeFault writes SNS's answer to an injected fault. SNS reports request
// throttling as the generic query error Throttling ("Rate exceeded"), which is
// in the SDK's default throttle codes; its modeled ThrottledException code
// "Throttled" is not.
func writeFault(w http.ResponseWriter, k fault.Kind, status int) {
	if k == fault.Throttle {
		writeError(w, &apiError{status: status, typ: "Sender", code: "Throttling", msg: "Rate exceeded"})
		return
	}
	writeError(w, &apiError{status: status, typ: "Receiver", code: "InternalError", msg: "We encountered an internal error. Please try again."})
}

// writeModeledFault answers injected throttling with SNS's modeled
// ThrottledException ("Indicates that the rate at which requests have been
// submitted for this action exceeds the limit for your Amazon Web Services
// account", https://docs.aws.amazon.com/sns/latest/api/API_Publish.html).
func writeModeledFault(w http.ResponseWriter, k fault.Kind, status int) {
	if k == fault.Throttle {
		writeError(w, &apiError{status: http.StatusTooManyRequests, typ: "Sender", code: "Throttled", msg: "Rate exceeded"})
		return
	}
	writeFault(w, k, status)
}

const xmlns = "http://sns.amazonaws.com/doc/2010-03-31/"

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "marshal response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

type responseMetadata struct {
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// ServeHTTP serves one awsQuery request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "Sender", code: "MalformedQueryString", msg: "cannot read request body"})
		return
	}
	if len(body) > maxBodyBytes {
		writeError(w, &apiError{status: http.StatusRequestEntityTooLarge, typ: "Sender", code: "RequestEntityTooLarge", msg: "request body too large"})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.log.Record("", body)
		writeError(w, &apiError{status: http.StatusBadRequest, typ: "Sender", code: "MalformedQueryString", msg: "malformed form body: " + err.Error()})
		return
	}
	op := form.Get("Action")
	if !s.gate.Admit(w, r, op, body) {
		return
	}
	if !s.authorize(w, r, op, form) {
		return
	}
	var resp any
	var aerr *apiError
	switch op {
	case "CreateTopic":
		resp, aerr = s.createTopic(form)
	case "Publish":
		resp, aerr = s.publish(form)
	case "PublishBatch":
		resp, aerr = s.publishBatch(form)
	case "":
		aerr = &apiError{status: http.StatusBadRequest, typ: "Sender", code: "MissingAction", msg: "Missing Action"}
	default:
		aerr = &apiError{status: http.StatusBadRequest, typ: "Sender", code: "InvalidAction", msg: fmt.Sprintf("Could not find operation %s for version 2010-03-31", op)}
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeXML(w, http.StatusOK, resp)
}

type createTopicResponse struct {
	XMLName  xml.Name `xml:"CreateTopicResponse"`
	Xmlns    string   `xml:"xmlns,attr"`
	TopicArn string   `xml:"CreateTopicResult>TopicArn"`
	responseMetadata
}

func (s *Server) createTopic(form url.Values) (any, *apiError) {
	name := form.Get("Name")
	base := strings.TrimSuffix(name, ".fifo")
	if !topicNameRE.MatchString(base) || len(name) > 256 {
		return nil, invalidParameter("Invalid parameter: Topic Name")
	}
	return createTopicResponse{Xmlns: xmlns, TopicArn: s.CreateTopic(name), responseMetadata: responseMetadata{emulator.RequestID()}}, nil
}

type publishResponse struct {
	XMLName        xml.Name `xml:"PublishResponse"`
	Xmlns          string   `xml:"xmlns,attr"`
	MessageID      string   `xml:"PublishResult>MessageId"`
	SequenceNumber string   `xml:"PublishResult>SequenceNumber,omitempty"`
	responseMetadata
}

// topic checks that the topic exists.
func (s *Server) topic(arn, field string) *apiError {
	if arn == "" {
		return invalidParameter("Invalid parameter: %s", field)
	}
	s.mu.Lock()
	ok := s.topics[arn]
	s.mu.Unlock()
	if !ok {
		return &apiError{status: http.StatusNotFound, typ: "Sender", code: "NotFound", msg: "Topic does not exist"}
	}
	return nil
}

func (s *Server) publish(form url.Values) (any, *apiError) {
	if form.Get("TargetArn") != "" || form.Get("PhoneNumber") != "" {
		return nil, invalidParameter("Invalid parameter: TargetArn and PhoneNumber are not supported by this emulator; use TopicArn")
	}
	arn := form.Get("TopicArn")
	if err := s.topic(arn, "TopicArn"); err != nil {
		return nil, err
	}
	m, _, aerr := parseEntry(form, "")
	if aerr != nil {
		return nil, aerr
	}
	m.TopicArn = arn
	if aerr := s.checkFIFO(&m); aerr != nil {
		return nil, aerr
	}
	s.store(&m)
	return publishResponse{Xmlns: xmlns, MessageID: m.MessageID, SequenceNumber: m.SequenceNumber, responseMetadata: responseMetadata{emulator.RequestID()}}, nil
}

func (s *Server) checkFIFO(m *Message) *apiError {
	if strings.HasSuffix(m.TopicArn, ".fifo") && m.MessageGroupID == "" {
		return invalidParameter("Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
	}
	if !strings.HasSuffix(m.TopicArn, ".fifo") && m.MessageGroupID != "" {
		return invalidParameter("Invalid parameter: MessageGroupId Reason: The request includes MessageGroupId parameter that is not valid for this topic type")
	}
	return nil
}

func (s *Server) store(m *Message) {
	m.MessageID = emulator.RequestID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasSuffix(m.TopicArn, ".fifo") {
		s.seq++
		m.SequenceNumber = fmt.Sprintf("%020d", s.seq)
	}
	s.messages[m.TopicArn] = append(s.messages[m.TopicArn], *m)
}

// parseEntry reads one message (Message, Subject, MessageAttributes,
// MessageGroupId) whose keys start with prefix, checks its limits and returns
// its size (message plus attributes).
func parseEntry(form url.Values, prefix string) (Message, int, *apiError) {
	m := Message{
		Message:        form.Get(prefix + "Message"),
		Subject:        form.Get(prefix + "Subject"),
		MessageGroupID: form.Get(prefix + "MessageGroupId"),
	}
	size := len(m.Message)
	if m.Message == "" {
		return m, size, invalidParameter("Invalid parameter: Empty message")
	}
	if _, ok := form[prefix+"Subject"]; ok {
		if err := checkSubject(m.Subject); err != nil {
			return m, size, err
		}
	}
	if form.Get(prefix+"MessageStructure") != "" {
		return m, size, invalidParameter("Invalid parameter: MessageStructure is not supported by this emulator")
	}
	attrs, attrSize, aerr := parseAttributes(form, prefix+"MessageAttributes.entry.")
	if aerr != nil {
		return m, size, aerr
	}
	m.Attributes = attrs
	size += attrSize
	if size > maxMessageBytes {
		return m, size, invalidParameter("Invalid parameter: Message too long")
	}
	return m, size, nil
}

func checkSubject(subj string) *apiError {
	if subj == "" {
		return invalidParameter("Invalid parameter: Subject")
	}
	if len(subj) > maxSubjectChars {
		return invalidParameter("Invalid parameter: Subject: must be less than %d characters long", maxSubjectChars)
	}
	for i := 0; i < len(subj); i++ {
		if c := subj[i]; c < 0x20 || c > 0x7e {
			return invalidParameter("Invalid parameter: Subject: must be printable ASCII without line breaks or control characters")
		}
	}
	if subj[0] == ' ' {
		return invalidParameter("Invalid parameter: Subject: must begin with a letter, number or punctuation mark")
	}
	return nil
}

// parseAttributes reads prefix.N.Name and prefix.N.Value.{DataType,
// StringValue,BinaryValue} and returns the attributes and their size in bytes
// (name, type and value), which counts towards the message size limit.
func parseAttributes(form url.Values, prefix string) (map[string]Attribute, int, *apiError) {
	type raw struct {
		name, typ, str, bin string
		hasStr, hasBin      bool
	}
	entries := map[int]*raw{}
	for key, vals := range form {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok {
			continue
		}
		idx, field, ok := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if !ok || err != nil || n < 1 {
			return nil, 0, invalidParameter("Invalid parameter: MessageAttributes: malformed key %q", key)
		}
		e := entries[n]
		if e == nil {
			e = &raw{}
			entries[n] = e
		}
		v := vals[0]
		switch field {
		case "Name":
			e.name = v
		case "Value.DataType":
			e.typ = v
		case "Value.StringValue":
			e.str, e.hasStr = v, true
		case "Value.BinaryValue":
			e.bin, e.hasBin = v, true
		default:
			return nil, 0, invalidParameter("Invalid parameter: MessageAttributes: unknown field %q", key)
		}
	}
	if len(entries) == 0 {
		return nil, 0, nil
	}
	idx := make([]int, 0, len(entries))
	for n := range entries {
		idx = append(idx, n)
	}
	sort.Ints(idx)
	attrs := make(map[string]Attribute, len(entries))
	size := 0
	for _, n := range idx {
		e := entries[n]
		if e.name == "" {
			return nil, 0, invalidValue("The request must contain non-empty message attribute name.")
		}
		if err := checkAttributeName(e.name); err != nil {
			return nil, 0, err
		}
		if _, dup := attrs[e.name]; dup {
			return nil, 0, invalidParameter("Invalid parameter: MessageAttributes: duplicate attribute name %q", e.name)
		}
		a, err := attributeValue(e.name, e.typ, e.str, e.bin, e.hasStr, e.hasBin)
		if err != nil {
			return nil, 0, err
		}
		size += len(e.name) + len(e.typ) + len(a.StringValue) + len(a.BinaryValue)
		attrs[e.name] = a
	}
	return attrs, size, nil
}

// invalidValue is SNS's InvalidParameterValueException (code
// ParameterValueInvalid), its answer to a malformed message attribute.
func invalidValue(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "Sender", code: "ParameterValueInvalid", msg: fmt.Sprintf(format, args...)}
}

// maxAttributeName is the limit on a message attribute name, and on its
// data type: "The name can be up to 256 characters long", "The data type
// ... can be up to 256 bytes long" (Amazon SNS message attributes,
// https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html).
const maxAttributeName = 256

// reservedAttributePrefixes are the documented attributes under the
// reserved AWS. prefix that a publisher may set: mobile push and SMS
// settings ("Reserved message attributes for mobile push notifications",
// sns-message-attributes.html; "Publishing to a mobile phone",
// sms_publish-to-phone.html).
var reservedAttributePrefixes = []string{"AWS.SNS.MOBILE.", "AWS.SNS.SMS.", "AWS.MM.SMS."}

// checkAttributeName applies the documented rules: "The message attribute
// name can contain the following characters: A-Z, a-z, 0-9, underscore(_),
// hyphen(-), and period (.). The name must not start or end with a period,
// and it should not have successive periods. [...] The name cannot start
// with AWS. or Amazon. (or any variations in casing)"
// (sns-message-attributes.html). The messages are SNS's, as LocalStack's
// snapshot tests against AWS record them; moto 5.2.1 checks none of this.
func checkAttributeName(name string) *apiError {
	if len(name) > maxAttributeName {
		return invalidValue("Length of message attribute name must be less than 256 bytes.")
	}
	if name[0] == '.' {
		return invalidValue("Invalid message attribute name starting with character '.' was found.")
	}
	if name[len(name)-1] == '.' {
		return invalidValue("Invalid message attribute name ending with character '.' was found.")
	}
	for i, r := range name {
		ok := r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !ok {
			return invalidValue("Invalid non-alphanumeric character '#x%X' was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.", r)
		}
		if r == '.' && name[i-1] == '.' {
			return invalidValue("Message attribute name can not have successive '.' character.")
		}
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
		for _, p := range reservedAttributePrefixes {
			if strings.HasPrefix(name, p) {
				return nil
			}
		}
		return invalidValue("Message attribute names starting with 'AWS.' or 'Amazon.' are reserved for use by Amazon.")
	}
	return nil
}

// attributeTypeRE is a data type: String, Number or Binary, optionally with
// a custom label after a period (String.Array is one such, with rules of its
// own).
var attributeTypeRE = regexp.MustCompile(`^(String|Number|Binary)(\..+)?$`)

// numberRE is a decimal number; Go's ParseFloat would also take NaN, Inf
// and hexadecimal floats, which are not numbers to SNS.
var numberRE = regexp.MustCompile(`^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)

// attributeValue checks one attribute's data type and value, in the order
// SNS does: the type, which value field it needs, a non-empty value, then
// the type's own rules.
func attributeValue(name, typ, str, bin string, hasStr, hasBin bool) (Attribute, *apiError) {
	if typ == "" {
		return Attribute{}, invalidValue("The message attribute '%s' must contain non-empty message attribute type.", name)
	}
	m := attributeTypeRE.FindStringSubmatch(typ)
	if m == nil || len(typ) > maxAttributeName {
		return Attribute{}, invalidValue("The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", name)
	}
	field, has := "String", hasStr
	if m[1] == "Binary" {
		field, has = "Binary", hasBin
	}
	if !hasStr && !hasBin {
		return Attribute{}, invalidValue("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, typ)
	}
	if !has {
		return Attribute{}, invalidValue("The message attribute '%s' with type '%s' must use field '%s'.", name, typ, field)
	}
	a := Attribute{DataType: typ}
	if field == "Binary" {
		b, err := base64.StdEncoding.DecodeString(bin)
		if err != nil {
			return Attribute{}, invalidValue("The message attribute '%s' has an invalid base64 BinaryValue.", name)
		}
		if len(b) == 0 {
			return Attribute{}, invalidValue("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, typ)
		}
		a.BinaryValue = b
		return a, nil
	}
	if str == "" {
		return Attribute{}, invalidValue("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, typ)
	}
	switch {
	case m[1] == "Number" && !numberRE.MatchString(str):
		return Attribute{}, invalidValue("Could not cast message attribute '%s' value to number.", name)
	case typ == "String.Array" && !isStringArray(str):
		return Attribute{}, invalidValue("The message attribute '%s' with type 'String.Array' must be a JSON array of strings, numbers, true, false or null.", name)
	}
	a.StringValue = str
	return a, nil
}

// isStringArray reports whether s is what String.Array holds: "An array,
// formatted as a string, that can contain multiple values. The values can
// be strings, numbers, or the keywords true, false, and null"
// (sns-message-attributes.html): a JSON array of those.
func isStringArray(s string) bool {
	var elems []json.RawMessage
	if !strings.HasPrefix(strings.TrimSpace(s), "[") || json.Unmarshal([]byte(s), &elems) != nil {
		return false
	}
	for _, e := range elems {
		switch e[0] {
		case '"', 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		default:
			return false
		}
	}
	return true
}

type batchSuccess struct {
	ID             string `xml:"Id"`
	MessageID      string `xml:"MessageId"`
	SequenceNumber string `xml:"SequenceNumber,omitempty"`
}

type batchFailure struct {
	ID          string `xml:"Id"`
	Code        string `xml:"Code"`
	Message     string `xml:"Message"`
	SenderFault bool   `xml:"SenderFault"`
}

type publishBatchResponse struct {
	XMLName    xml.Name       `xml:"PublishBatchResponse"`
	Xmlns      string         `xml:"xmlns,attr"`
	Successful []batchSuccess `xml:"PublishBatchResult>Successful>member"`
	Failed     []batchFailure `xml:"PublishBatchResult>Failed>member"`
	responseMetadata
}

func (s *Server) publishBatch(form url.Values) (any, *apiError) {
	arn := form.Get("TopicArn")
	if err := s.topic(arn, "TopicArn"); err != nil {
		return nil, err
	}
	const prefix = "PublishBatchRequestEntries.member."
	seen := map[int]bool{}
	for key := range form {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if err != nil || n < 1 {
			return nil, invalidParameter("Invalid parameter: PublishBatchRequestEntries: malformed key %q", key)
		}
		seen[n] = true
	}
	if len(seen) == 0 {
		return nil, &apiError{status: http.StatusBadRequest, typ: "Sender", code: "EmptyBatchRequest", msg: "The batch request doesn't contain any entries."}
	}
	if len(seen) > maxBatchEntries {
		return nil, &apiError{status: http.StatusBadRequest, typ: "Sender", code: "TooManyEntriesInBatchRequest", msg: fmt.Sprintf("The batch request contains more entries than permissible (%d).", maxBatchEntries)}
	}
	idx := make([]int, 0, len(seen))
	for n := range seen {
		idx = append(idx, n)
	}
	sort.Ints(idx)
	ids := map[string]bool{}
	total := 0
	type entry struct {
		id  string
		m   Message
		err *apiError
	}
	entries := make([]entry, 0, len(idx))
	for _, n := range idx {
		p := fmt.Sprintf("%s%d.", prefix, n)
		id := form.Get(p + "Id")
		if !batchIDRE.MatchString(id) {
			return nil, &apiError{status: http.StatusBadRequest, typ: "Sender", code: "InvalidBatchEntryId", msg: fmt.Sprintf("The Id of a batch entry in a batch request doesn't abide by the specification: PublishBatchRequestEntries.member.%d.Id", n)}
		}
		if ids[id] {
			return nil, &apiError{status: http.StatusBadRequest, typ: "Sender", code: "BatchEntryIdsNotDistinct", msg: fmt.Sprintf("Two or more batch entries in the request have the same Id: %s", id)}
		}
		ids[id] = true
		m, size, aerr := parseEntry(form, p)
		total += size
		m.TopicArn = arn
		if aerr == nil {
			aerr = s.checkFIFO(&m)
		}
		entries = append(entries, entry{id: id, m: m, err: aerr})
	}
	if total > maxMessageBytes {
		return nil, &apiError{status: http.StatusBadRequest, typ: "Sender", code: "BatchRequestTooLong", msg: fmt.Sprintf("The length of all the messages put together is more than the limit (%d bytes).", maxMessageBytes)}
	}
	resp := publishBatchResponse{Xmlns: xmlns, responseMetadata: responseMetadata{emulator.RequestID()}}
	for _, e := range entries {
		if e.err != nil {
			resp.Failed = append(resp.Failed, batchFailure{ID: e.id, Code: e.err.code, Message: e.err.msg, SenderFault: true})
			continue
		}
		s.store(&e.m)
		resp.Successful = append(resp.Successful, batchSuccess{ID: e.id, MessageID: e.m.MessageID, SequenceNumber: e.m.SequenceNumber})
	}
	return resp, nil
}

package eventbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// maxEntries is the PutEvents limit of 10 entries per request
// (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html:
// "Array Members: Minimum number of 1 item. Maximum number of 10 items.").
const maxEntries = 10

// maxEntriesBytes is the PutEvents size limit: "The total entry size must be
// less than 256KB"
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html).
const maxEntriesBytes = 256 * 1024

// maxBodyBytes bounds how much of a request body is read.
const maxBodyBytes = 4 << 20

// DefaultBus is the name of the account's default event bus, where AWS
// services put their events.
const DefaultBus = "default"

// Options configures a [Server].
type Options struct {
	// Region is used in envelopes and ARNs; default ap-southeast-1.
	Region string
	// AccountID is used in envelopes and ARNs; default 123456789012.
	AccountID string
	// Seed seeds the fault injector.
	Seed uint64
	// Now returns the time stamped on entries without Time; default time.Now.
	Now func() time.Time
}

// Envelope is an event as a rule target receives it
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html).
type Envelope struct {
	// Version is always "0".
	Version string `json:"version"`
	// ID is the event id (the EventId PutEvents returned).
	ID string `json:"id"`
	// DetailType is the entry's DetailType.
	DetailType string `json:"detail-type"`
	// Source is the entry's Source.
	Source string `json:"source"`
	// Account is the account id.
	Account string `json:"account"`
	// Time is the entry's Time, or the time it was put, in RFC 3339 UTC
	// seconds.
	Time string `json:"time"`
	// Region is the region.
	Region string `json:"region"`
	// Resources are the entry's resource ARNs, [] when none.
	Resources []string `json:"resources"`
	// Detail is the entry's Detail JSON object.
	Detail json.RawMessage `json:"detail"`
}

// Subscriber receives the envelope of every event put on a bus.
type Subscriber func(ctx context.Context, envelope []byte)

// Server is the EventBridge emulator, an [http.Handler]. It is safe for
// concurrent use.
type Server struct {
	region, account string
	now             func() time.Time
	faults          *fault.Injector
	log             *fault.Log
	gate            fault.Gate
	guard           authz.Guard

	mu     sync.Mutex
	buses  map[string][][]byte // envelopes per bus
	subs   map[string][]*subscription
	nextID int

	emulator.Listener
}

type subscription struct {
	id int
	fn Subscriber
}

// New returns an EventBridge emulator with only the default bus.
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
	s := &Server{
		region:  o.Region,
		account: o.AccountID,
		now:     o.Now,
		faults:  fault.New(o.Seed),
		log:     &fault.Log{},
		buses:   map[string][][]byte{DefaultBus: nil},
		subs:    map[string][]*subscription{},
	}
	s.gate = fault.Gate{Injector: s.faults, Log: s.log, Write: writeFault}
	return s
}

// Faults returns the fault injector; the operation name is "PutEvents".
func (s *Server) Faults() *fault.Injector { return s.faults }

// Calls returns the call log.
func (s *Server) Calls() *fault.Log { return s.log }

// Region returns the region stamped on envelopes.
func (s *Server) Region() string { return s.region }

// AccountID returns the account stamped on envelopes.
func (s *Server) AccountID() string { return s.account }

// CreateBus creates a custom event bus (idempotent) and returns its ARN.
func (s *Server) CreateBus(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.buses[name]; !ok {
		s.buses[name] = nil
	}
	return s.busARN(name)
}

func (s *Server) busARN(name string) string {
	return fmt.Sprintf("arn:aws:events:%s:%s:event-bus/%s", s.region, s.account, name)
}

// Events returns the envelopes recorded on bus, in the order they were put.
func (s *Server) Events(bus string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.buses[bus]))
	copy(out, s.buses[bus])
	return out
}

// Reset forgets the recorded events of every bus; buses and subscribers stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for b := range s.buses {
		s.buses[b] = nil
	}
}

// Subscribe registers fn for every event put on the default bus and returns
// a function that removes it.
func (s *Server) Subscribe(fn Subscriber) (cancel func()) {
	return s.SubscribeBus(DefaultBus, fn)
}

// SubscribeBus registers fn for every event put on bus and returns a
// function that removes it.
func (s *Server) SubscribeBus(bus string, fn Subscriber) (cancel func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	sub := &subscription{id: s.nextID, fn: fn}
	s.subs[bus] = append(s.subs[bus], sub)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		list := s.subs[bus]
		for i, x := range list {
			if x.id == sub.id {
				s.subs[bus] = append(list[:i:i], list[i+1:]...)
				return
			}
		}
	}
}

// PutEnvelope records a complete event envelope on bus, as AWS services do
// when they emit events, and delivers it to the bus's subscribers. The
// envelope must be a JSON object with source, detail-type and detail.
func (s *Server) PutEnvelope(ctx context.Context, bus string, envelope []byte) error {
	var e Envelope
	if err := json.Unmarshal(envelope, &e); err != nil {
		return fmt.Errorf("decode envelope: %w", err)
	}
	if e.Source == "" || e.DetailType == "" || len(e.Detail) == 0 {
		return errors.New("envelope lacks source, detail-type or detail")
	}
	s.mu.Lock()
	if _, ok := s.buses[bus]; !ok {
		s.mu.Unlock()
		return fmt.Errorf("event bus %s does not exist", bus)
	}
	s.mu.Unlock()
	s.deliver(ctx, bus, bytes.Clone(envelope))
	return nil
}

func (s *Server) deliver(ctx context.Context, bus string, envelope []byte) {
	s.mu.Lock()
	s.buses[bus] = append(s.buses[bus], envelope)
	subs := append([]*subscription(nil), s.subs[bus]...)
	s.mu.Unlock()
	for _, sub := range subs {
		sub.fn(ctx, envelope)
	}
}

// Start serves s on addr ("127.0.0.1:0" picks a free port) and returns the
// base URL to use as the SDK client's BaseEndpoint. URL and Close come with
// the embedded emulator.Listener.
func (s *Server) Start(addr string) (string, error) { return s.Listener.Serve(addr, s) }

const targetPrefix = "AWSEvents."

func writeFault(w http.ResponseWriter, k fault.Kind, status int) {
	if k == fault.Throttle {
		emulator.AWSJSON11.Error(w, status, "ThrottlingException", "Rate exceeded")
		return
	}
	emulator.AWSJSON11.Error(w, status, "InternalException", "Internal service error")
}

// ServeHTTP serves one awsJson1_1 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, body, ok := emulator.AWSJSON11.ReadOperation(w, r, targetPrefix, maxBodyBytes, s.log)
	if !ok {
		return
	}
	if !s.gate.Admit(w, r, op, body) {
		return
	}
	if !s.authorize(w, r, op, body) {
		return
	}
	switch op {
	case "PutEvents":
		s.putEvents(w, r, body)
	default:
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("operation %s is not supported by this emulator", op))
	}
}

type putEventsInput struct {
	Entries    []entry `json:"Entries"`
	EndpointID string  `json:"EndpointId"`
}

type entry struct {
	Source       *string  `json:"Source"`
	DetailType   *string  `json:"DetailType"`
	Detail       *string  `json:"Detail"`
	EventBusName string   `json:"EventBusName"`
	Resources    []string `json:"Resources"`
	Time         *float64 `json:"Time"`
	TraceHeader  string   `json:"TraceHeader"`
}

type resultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putEventsOutput struct {
	Entries          []resultEntry `json:"Entries"`
	FailedEntryCount int           `json:"FailedEntryCount"`
}

// decode unmarshals an awsJson body; its error names the offending field.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	err := json.Unmarshal(body, v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return fmt.Errorf("cannot deserialize field %s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	default:
		return fmt.Errorf("malformed JSON body: %w", err)
	}
}

func (e *entry) size() int {
	n := 0
	if e.Time != nil {
		n += 14
	}
	for _, p := range []*string{e.Source, e.DetailType, e.Detail} {
		if p != nil {
			n += len(*p)
		}
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

func (s *Server) putEvents(w http.ResponseWriter, r *http.Request, body []byte) {
	var in putEventsInput
	if err := decode(body, &in); err != nil {
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if len(in.Entries) == 0 || len(in.Entries) > maxEntries {
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, "ValidationException", fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", maxEntries))
		return
	}
	total := 0
	for i := range in.Entries {
		total += in.Entries[i].size()
	}
	if total >= maxEntriesBytes {
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, "ValidationException", "Total size of the entries in the request is over the limit.")
		return
	}
	out := putEventsOutput{Entries: make([]resultEntry, len(in.Entries))}
	type accepted struct {
		bus      string
		envelope []byte
	}
	var ok []accepted
	for i := range in.Entries {
		env, bus, code, msg := s.envelope(&in.Entries[i])
		if code == "" && s.faults.FailItem("PutEvents") {
			code, msg = "InternalFailure", "Internal Service Error"
		}
		if code != "" {
			out.Entries[i] = resultEntry{ErrorCode: code, ErrorMessage: msg}
			out.FailedEntryCount++
			continue
		}
		out.Entries[i] = resultEntry{EventID: env.ID}
		b, err := marshalEnvelope(env)
		if err != nil {
			out.Entries[i] = resultEntry{ErrorCode: "InternalFailure", ErrorMessage: "Internal Service Error"}
			out.FailedEntryCount++
			continue
		}
		ok = append(ok, accepted{bus: bus, envelope: b})
	}
	ctx := context.WithoutCancel(r.Context())
	for _, a := range ok {
		s.deliver(ctx, a.bus, a.envelope)
	}
	b, err := json.Marshal(out)
	if err != nil {
		emulator.AWSJSON11.Error(w, http.StatusInternalServerError, "InternalException", "marshal response")
		return
	}
	emulator.AWSJSON11.Write(w, http.StatusOK, b)
}

// envelope validates one entry and builds its envelope, or returns the
// per-entry error code and message.
func (s *Server) envelope(e *entry) (env Envelope, bus, code, msg string) {
	bus = e.EventBusName
	if bus == "" {
		bus = DefaultBus
	}
	if rest, ok := strings.CutPrefix(bus, "arn:"); ok {
		_, name, found := strings.Cut(rest, ":event-bus/")
		if !found || name == "" {
			return env, "", "InvalidArgument", fmt.Sprintf("Parameter EventBusName is not valid. Reason: %q is not an event bus ARN.", e.EventBusName)
		}
		bus = name
	}
	s.mu.Lock()
	_, exists := s.buses[bus]
	s.mu.Unlock()
	if !exists {
		return env, "", "ResourceNotFoundException", fmt.Sprintf("Event bus %s does not exist.", bus)
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"Source", e.Source}, {"DetailType", e.DetailType}, {"Detail", e.Detail}} {
		if f.v == nil || *f.v == "" {
			return env, "", "InvalidArgument", fmt.Sprintf("Parameter %s is not valid. Reason: %s is a required argument.", f.name, f.name)
		}
	}
	var detail map[string]json.RawMessage
	if err := json.Unmarshal([]byte(*e.Detail), &detail); err != nil || detail == nil {
		return env, "", "MalformedDetail", "Detail is malformed."
	}
	t := s.now().UTC()
	if e.Time != nil {
		f := *e.Time
		if math.IsNaN(f) || math.IsInf(f, 0) || f < -62135596800 || f > 253402300799 {
			return env, "", "InvalidArgument", "Parameter Time is not valid."
		}
		sec, frac := math.Modf(f)
		t = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	resources := e.Resources
	if resources == nil {
		resources = []string{}
	}
	return Envelope{
		Version:    "0",
		ID:         emulator.RequestID(),
		DetailType: *e.DetailType,
		Source:     *e.Source,
		Account:    s.account,
		Time:       t.Format("2006-01-02T15:04:05Z"),
		Region:     s.region,
		Resources:  resources,
		Detail:     json.RawMessage(*e.Detail),
	}, bus, "", ""
}

// marshalEnvelope encodes env without escaping <, > and &, so that detail
// keeps the bytes the caller sent (modulo insignificant whitespace).
func marshalEnvelope(env Envelope) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(env); err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

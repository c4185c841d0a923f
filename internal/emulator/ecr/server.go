package ecr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// TargetPrefix is the X-Amz-Target prefix of every ECR operation; the
// operation name follows the dot.
const TargetPrefix = "AmazonEC2ContainerRegistry_V20150921."

// DefaultAccount is the registry (account) id used when Config.Account is
// empty.
const DefaultAccount = "123456789012"

// DefaultRegion is the region used when Config.Region is empty.
const DefaultRegion = "ap-southeast-1"

// maxBodyBytes bounds a request body. ECR image manifests are at most 4 MiB
// (Amazon ECR service quotas); the rest is headroom for JSON escaping.
const maxBodyBytes = 10 << 20

// Emitter receives each EventBridge event (one JSON envelope) the emulator
// emits. It is called synchronously, outside the emulator's lock, before the
// operation that caused the event answers, so it may call the emulator again;
// it must be safe for concurrent use when the emulator serves concurrent
// requests.
type Emitter func(ctx context.Context, event []byte)

// ScanType is a repository's scanning type: basic (ECR's own scanner) or
// enhanced (Amazon Inspector). AWS configures it per registry; the emulator
// lets each repository choose, so one emulator can serve both kinds of test.
type ScanType string

// The scan types.
const (
	ScanBasic    ScanType = "BASIC"
	ScanEnhanced ScanType = "ENHANCED"
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// Account is the registry id; DefaultAccount when empty.
	Account string
	// Region appears in ARNs, URIs and events; DefaultRegion when empty.
	Region string
	// Now is the clock for pushedAt, createdAt and scan times; time.Now when nil.
	Now func() time.Time
	// Seed seeds fault injection and event ids, for deterministic runs.
	Seed uint64
	// Emitter receives the EventBridge events; nil drops them.
	Emitter Emitter
	// ActivationDelay is how long a restore (UpdateImageStorageClass to
	// STANDARD) keeps an image ACTIVATING; DefaultActivationDelay when zero
	// (SetActivationDelay sets any value, zero included).
	ActivationDelay time.Duration
	// PullTimeRefresh models the lag of lastRecordedPullTime: a pull within
	// this long of the recorded one is not recorded. Zero records every pull
	// exactly; ECR documents a refresh "at least once every 24 hours".
	PullTimeRefresh time.Duration
}

// Server is an in-process emulator of the Amazon ECR API (JSON 1.1 protocol)
// for the operations ecrwarden uses. It is an http.Handler and is safe for
// concurrent use.
type Server struct {
	account, region string
	now             func() time.Time

	faults *fault.Injector
	log    *fault.Log
	gate   fault.Gate
	guard  authz.Guard

	emitMu  sync.RWMutex
	emitter Emitter

	mu    sync.Mutex
	rng   *rand.Rand
	repos map[string]*repository
	seq   uint64

	activationDelay time.Duration
	pullRefresh     time.Duration
	// activating counts ACTIVATING images, so settle costs nothing when
	// there are none.
	activating int
}

// New returns an empty registry.
func New(cfg Config) *Server {
	s := &Server{
		account: cfg.Account,
		region:  cfg.Region,
		now:     cfg.Now,
		faults:  fault.New(cfg.Seed),
		log:     &fault.Log{},
		emitter: cfg.Emitter,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		repos:   make(map[string]*repository),

		activationDelay: cfg.ActivationDelay,
		pullRefresh:     cfg.PullTimeRefresh,
	}
	if s.activationDelay <= 0 {
		s.activationDelay = DefaultActivationDelay
	}
	if s.account == "" {
		s.account = DefaultAccount
	}
	if s.region == "" {
		s.region = DefaultRegion
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.gate = fault.Gate{Injector: s.faults, Log: s.log, Write: writeFault}
	return s
}

// Faults returns the fault injector consulted before every request; rules
// are keyed by operation name ("DescribeImages") or "*".
func (s *Server) Faults() *fault.Injector { return s.faults }

// Log returns the log of every request received, faulted ones included.
func (s *Server) Log() *fault.Log { return s.log }

// SetEmitter replaces the event emitter; nil drops events.
func (s *Server) SetEmitter(e Emitter) {
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	s.emitter = e
}

// SetActivationDelay sets how long later restores keep images ACTIVATING;
// zero restores at once.
func (s *Server) SetActivationDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.activationDelay = max(d, 0)
}

// Account returns the registry id.
func (s *Server) Account() string { return s.account }

// Region returns the region.
func (s *Server) Region() string { return s.region }

// Start serves the emulator on addr ("" means 127.0.0.1:0, a free loopback
// port) until stop is called, and returns the base URL to use as the SDK's
// BaseEndpoint.
func (s *Server) Start(addr string) (url string, stop func() error, err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return "http://" + ln.Addr().String(), hs.Close, nil
}

// call carries what one request produced besides its response.
type call struct {
	events [][]byte
}

type opFunc func(s *Server, c *call, body []byte) (any, error)

var ops = map[string]opFunc{
	"CreateRepository":          (*Server).createRepository,
	"DescribeRepositories":      (*Server).describeRepositories,
	"PutLifecyclePolicy":        (*Server).putLifecyclePolicy,
	"GetLifecyclePolicy":        (*Server).getLifecyclePolicy,
	"DeleteLifecyclePolicy":     (*Server).deleteLifecyclePolicy,
	"UpdateImageStorageClass":   (*Server).updateImageStorageClass,
	"PutImage":                  (*Server).putImage,
	"BatchGetImage":             (*Server).batchGetImage,
	"DescribeImages":            (*Server).describeImages,
	"ListImages":                (*Server).listImages,
	"BatchDeleteImage":          (*Server).batchDeleteImage,
	"DescribeImageScanFindings": (*Server).describeImageScanFindings,
	"StartImageScan":            (*Server).startImageScan,
}

// ServeHTTP answers one ECR API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, serializationError("cannot read request body: %v", err))
		return
	}
	target := r.Header.Get("X-Amz-Target")
	name, known := strings.CutPrefix(target, TargetPrefix)
	fn := ops[name]
	if !known || fn == nil {
		name = target
	}
	if !s.gate.Admit(w, r, name, body) {
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, newError(http.StatusNotFound, "UnknownOperationException", "method %s is not supported; use POST", r.Method))
		return
	}
	if fn == nil {
		writeError(w, newError(http.StatusBadRequest, "UnknownOperationException", "unknown operation %q in X-Amz-Target", target))
		return
	}
	if !s.authorize(w, r, name, body) {
		return
	}
	c := &call{}
	s.mu.Lock()
	s.settle(c)
	s.mu.Unlock()
	out, err := fn(s, c, body)
	s.emit(r.Context(), c.events)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = newError(http.StatusInternalServerError, "ServerException", "%v", err)
		}
		writeError(w, ae)
		return
	}
	resp, err := json.Marshal(out)
	if err != nil {
		writeError(w, newError(http.StatusInternalServerError, "ServerException", "encode response: %v", err))
		return
	}
	emulator.AWSJSON11.Write(w, http.StatusOK, resp)
}

func (s *Server) emit(ctx context.Context, events [][]byte) {
	if len(events) == 0 {
		return
	}
	s.emitMu.RLock()
	e := s.emitter
	s.emitMu.RUnlock()
	if e == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	for _, ev := range events {
		if ev == nil {
			continue
		}
		e(ctx, ev)
	}
}

// decode unmarshals a JSON request body into v, answering malformed input
// with the SerializationException AWS JSON services return.
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "(request)"
		}
		return serializationError("Unexpected %s value for field '%s', expected %s", te.Value, field, jsonKind(te.Type.Kind().String()))
	}
	return serializationError("Malformed JSON request body: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map":
		return "a structure"
	case "slice":
		return "a list"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	default:
		return "a number"
	}
}

// repositoryNamePattern is the repositoryName pattern of the ECR API
// reference (length 2..256; https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html).
var repositoryNamePattern = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

var registryIDPattern = regexp.MustCompile(`^[0-9]{12}$`)

// checkRegistry validates an optional registryId: the emulator serves one
// registry, so any other id is refused.
func (s *Server) checkRegistry(id *string) error {
	if id == nil {
		return nil
	}
	if !registryIDPattern.MatchString(*id) {
		return invalidParameter("registryId", "Member must satisfy regular expression pattern: [0-9]{12}")
	}
	if *id != s.account {
		return newError(http.StatusBadRequest, "InvalidParameterException",
			"Invalid parameter at 'registryId': the emulated registry is '%s', not '%s'", s.account, *id)
	}
	return nil
}

func checkRepositoryName(name *string) error {
	if name == nil {
		return requiredMember("repositoryName")
	}
	if n := len(*name); n < 2 || n > 256 {
		return invalidParameter("repositoryName", "Member must have length between 2 and 256")
	}
	if !repositoryNamePattern.MatchString(*name) {
		return invalidParameter("repositoryName",
			"Member must satisfy regular expression pattern: (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
	}
	return nil
}

// repository looks up a repository after validating the request's registry
// and name. The caller holds s.mu.
func (s *Server) repository(registryID, name *string) (*repository, error) {
	if err := s.checkRegistry(registryID); err != nil {
		return nil, err
	}
	if err := checkRepositoryName(name); err != nil {
		return nil, err
	}
	r, ok := s.repos[*name]
	if !ok {
		return nil, s.repositoryNotFound(*name)
	}
	return r, nil
}

// maxResults validates an optional maxResults against the documented range
// 1..1000 and returns it, or the documented default of 100
// (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImages.html, API_ListImages.html,
// API_DescribeImageScanFindings.html, API_DescribeRepositories.html).
func maxResults(v *int32) (int, error) {
	if v == nil {
		return 100, nil
	}
	if *v < 1 {
		return 0, invalidParameter("maxResults", "Member must have value greater than or equal to 1")
	}
	if *v > 1000 {
		return 0, invalidParameter("maxResults", "Member must have value less than or equal to 1000")
	}
	return int(*v), nil
}

func epoch(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

func ptr[T any](v T) *T { return &v }

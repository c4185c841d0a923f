package secretsmanager

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// maxBodyBytes bounds how much of a request body is read.
const maxBodyBytes = 1 << 20

// Options configures a [Server].
type Options struct {
	// Region is used in secret ARNs; default ap-southeast-1.
	Region string
	// AccountID is used in secret ARNs; default 123456789012.
	AccountID string
	// Seed seeds the fault injector.
	Seed uint64
}

type version struct {
	id      string
	value   string
	stages  []string
	created time.Time
}

type secret struct {
	name, arn string
	versions  []*version // newest last
	kmsKey    string     // customer managed key ARN; "" for aws/secretsmanager
}

// Server is the Secrets Manager emulator, an [http.Handler]. It is safe for
// concurrent use.
type Server struct {
	region, account string
	faults          *fault.Injector
	log             *fault.Log
	gate            fault.Gate
	guard           authz.Guard

	mu      sync.Mutex
	secrets map[string]*secret // by name

	emulator.Listener
}

// New returns a Secrets Manager emulator without secrets.
func New(o Options) *Server {
	if o.Region == "" {
		o.Region = "ap-southeast-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	s := &Server{region: o.Region, account: o.AccountID, faults: fault.New(o.Seed), log: &fault.Log{}, secrets: map[string]*secret{}}
	s.gate = fault.Gate{Injector: s.faults, Log: s.log, Write: writeFault}
	return s
}

// Faults returns the fault injector; the operation name is "GetSecretValue".
func (s *Server) Faults() *fault.Injector { return s.faults }

// Calls returns the call log.
func (s *Server) Calls() *fault.Log { return s.log }

// PutSecret stores value as the new AWSCURRENT version of secret name,
// creating the secret if needed, and returns the secret's ARN.
func (s *Server) PutSecret(name, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		sec = &secret{name: name, arn: fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-%s", s.region, s.account, name, randomSuffix())}
		s.secrets[name] = sec
	}
	for _, v := range sec.versions {
		switch {
		case hasStage(v, "AWSCURRENT"):
			v.stages = []string{"AWSPREVIOUS"}
		case hasStage(v, "AWSPREVIOUS"):
			v.stages = nil
		}
	}
	sec.versions = append(sec.versions, &version{id: emulator.RequestID(), value: value, stages: []string{"AWSCURRENT"}, created: time.Now().UTC().Truncate(time.Second)})
	return sec.arn
}

func hasStage(v *version, stage string) bool {
	for _, st := range v.stages {
		if st == stage {
			return true
		}
	}
	return false
}

// Start serves s on addr ("127.0.0.1:0" picks a free port) and returns the
// base URL to use as the SDK client's BaseEndpoint. URL and Close come with
// the embedded emulator.Listener.
func (s *Server) Start(addr string) (string, error) { return s.Listener.Serve(addr, s) }

func writeFault(w http.ResponseWriter, k fault.Kind, status int) {
	if k == fault.Throttle {
		emulator.AWSJSON11.Error(w, status, "ThrottlingException", "Rate exceeded")
		return
	}
	emulator.AWSJSON11.Error(w, status, "InternalServiceError", "An error occurred on the server side.")
}

// ServeHTTP serves one awsJson1_1 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, body, ok := emulator.AWSJSON11.ReadOperation(w, r, "secretsmanager.", maxBodyBytes, s.log)
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
	case "GetSecretValue":
		s.getSecretValue(w, body)
	default:
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, "UnknownOperationException", fmt.Sprintf("operation %s is not supported by this emulator", op))
	}
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

type getSecretValueInput struct {
	SecretID     *string `json:"SecretId"`
	VersionID    string  `json:"VersionId"`
	VersionStage string  `json:"VersionStage"`
}

type getSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	SecretString  string   `json:"SecretString"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   int64    `json:"CreatedDate"`
}

func (s *Server) lookup(id string) *secret {
	if sec, ok := s.secrets[id]; ok {
		return sec
	}
	for _, sec := range s.secrets {
		// Full ARN, or partial ARN without the random suffix.
		if id == sec.arn || id == sec.arn[:len(sec.arn)-7] {
			return sec
		}
	}
	return nil
}

func (s *Server) getSecretValue(w http.ResponseWriter, body []byte) {
	var in getSecretValueInput
	if err := decode(body, &in); err != nil {
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if in.SecretID == nil || *in.SecretID == "" {
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(*in.SecretID)
	if sec == nil {
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	var v *version
	stage := stageOr(in.VersionStage, in.VersionID)
	for _, x := range sec.versions {
		if (in.VersionID == "" || x.id == in.VersionID) && (stage == "" || hasStage(x, stage)) {
			v = x
		}
	}
	if v == nil {
		if in.VersionID != "" {
			emulator.AWSJSON11.Error(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: "+in.VersionID)
			return
		}
		emulator.AWSJSON11.Error(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: "+in.VersionStage)
		return
	}
	b, err := json.Marshal(getSecretValueOutput{
		ARN: sec.arn, Name: sec.name, VersionID: v.id, SecretString: v.value,
		VersionStages: append([]string{}, v.stages...), CreatedDate: v.created.Unix(),
	})
	if err != nil {
		emulator.AWSJSON11.Error(w, http.StatusInternalServerError, "InternalServiceError", "marshal response")
		return
	}
	emulator.AWSJSON11.Write(w, http.StatusOK, b)
}

// stageOr returns the staging label to match: the requested one, AWSCURRENT
// by default, or "" (any label) when only a VersionId was given.
func stageOr(stage, versionID string) string {
	if stage != "" {
		return stage
	}
	if versionID != "" {
		return ""
	}
	return "AWSCURRENT"
}

const suffixChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = suffixChars[int(b[i])%len(suffixChars)]
	}
	return string(b[:])
}

package eks

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/authz"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// clusterNameRE is EKS's cluster name constraint: "The name can contain only
// alphanumeric characters (case-sensitive), hyphens, and underscores. It must
// start with an alphanumeric character and can't be longer than 100
// characters" (https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html).
var clusterNameRE = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$`)

// Cluster is a seeded EKS cluster.
type Cluster struct {
	// Name is the cluster name.
	Name string
	// Endpoint is the Kubernetes API server URL (https://127.0.0.1:port).
	Endpoint string
	// CAPEM is the PEM-encoded CA bundle of the API server.
	CAPEM []byte
	// Version is the Kubernetes minor version, default "1.33".
	Version string
	// Tags are the cluster's tags.
	Tags map[string]string
}

// Options configures a [Server].
type Options struct {
	// Region is used in ARNs; default ap-southeast-1.
	Region string
	// AccountID is used in ARNs; default 123456789012.
	AccountID string
	// Seed seeds the fault injector.
	Seed uint64
}

type stored struct {
	Cluster
	created time.Time
}

// Server is the EKS emulator, an [http.Handler]. It is safe for concurrent
// use.
type Server struct {
	region, account string
	faults          *fault.Injector
	log             *fault.Log
	gate            fault.Gate
	guard           authz.Guard

	mu       sync.Mutex
	clusters map[string]stored

	emulator.Listener
}

// New returns an EKS emulator without clusters.
func New(o Options) *Server {
	if o.Region == "" {
		o.Region = "ap-southeast-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	s := &Server{region: o.Region, account: o.AccountID, faults: fault.New(o.Seed), log: &fault.Log{}, clusters: map[string]stored{}}
	s.gate = fault.Gate{Injector: s.faults, Log: s.log, Write: writeFault}
	return s
}

// Faults returns the fault injector; the operation name is "DescribeCluster".
func (s *Server) Faults() *fault.Injector { return s.faults }

// Calls returns the call log.
func (s *Server) Calls() *fault.Log { return s.log }

// AddCluster adds or replaces a cluster and returns its ARN.
func (s *Server) AddCluster(c Cluster) (string, error) {
	if !clusterNameRE.MatchString(c.Name) {
		return "", fmt.Errorf("invalid cluster name %q", c.Name)
	}
	if c.Version == "" {
		c.Version = "1.33"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clusters[c.Name] = stored{Cluster: c, created: time.Now().UTC().Truncate(time.Millisecond)}
	return s.arn(c.Name), nil
}

func (s *Server) arn(name string) string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", s.region, s.account, name)
}

// Start serves s on addr ("127.0.0.1:0" picks a free port) and returns the
// base URL to use as the SDK client's BaseEndpoint. URL and Close come with
// the embedded emulator.Listener.
func (s *Server) Start(addr string) (string, error) { return s.Listener.Serve(addr, s) }

func writeError(w http.ResponseWriter, status int, typ, msg string, extra map[string]string) {
	body := map[string]string{"message": msg}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	w.Header().Set("X-Amzn-Errortype", typ)
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", emulator.RequestID())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeFault answers an injected fault. EKS throttles with HTTP 429
// ThrottlingException, whatever status the gate suggests.
func writeFault(w http.ResponseWriter, k fault.Kind, status int) {
	if k == fault.Throttle {
		writeError(w, http.StatusTooManyRequests, "ThrottlingException", "Rate exceeded", nil)
		return
	}
	writeError(w, status, "ServerException", "An internal error occurred.", nil)
}

// ServeHTTP serves one restJson1 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/clusters/")
	if !ok || strings.Contains(rest, "/") || r.Method != http.MethodGet {
		s.log.Record(r.Method+" "+r.URL.EscapedPath(), nil)
		writeError(w, http.StatusNotFound, "UnknownOperationException", fmt.Sprintf("no operation for %s %s in this emulator", r.Method, r.URL.EscapedPath()), nil)
		return
	}
	if !s.gate.Admit(w, r, "DescribeCluster", []byte(r.URL.RequestURI())) {
		return
	}
	name, err := url.PathUnescape(rest)
	if err != nil || !clusterNameRE.MatchString(name) {
		writeError(w, http.StatusBadRequest, "InvalidParameterException", fmt.Sprintf("1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9A-Za-z][A-Za-z0-9\\-_]*", rest), map[string]string{"clusterName": name})
		return
	}
	if !s.authorize(w, r, "DescribeCluster", name) {
		return
	}
	s.mu.Lock()
	c, ok := s.clusters[name]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("No cluster found for name: %s.", name), map[string]string{"clusterName": name})
		return
	}
	b, err := json.Marshal(map[string]any{"cluster": s.describe(c)})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "ServerException", "marshal response", nil)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *Server) describe(c stored) map[string]any {
	tags := c.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return map[string]any{
		"name":                 c.Name,
		"arn":                  s.arn(c.Name),
		"createdAt":            float64(c.created.UnixMilli()) / 1000,
		"version":              c.Version,
		"endpoint":             c.Endpoint,
		"roleArn":              fmt.Sprintf("arn:aws:iam::%s:role/eks-cluster-role", s.account),
		"status":               "ACTIVE",
		"platformVersion":      "eks.1",
		"certificateAuthority": map[string]string{"data": base64.StdEncoding.EncodeToString(c.CAPEM)},
		"identity":             map[string]any{"oidc": map[string]string{"issuer": fmt.Sprintf("https://oidc.eks.%s.amazonaws.com/id/00000000000000000000000000000000", s.region)}},
		"accessConfig":         map[string]any{"authenticationMode": "API_AND_CONFIG_MAP"},
		"kubernetesNetworkConfig": map[string]any{
			"serviceIpv4Cidr": "10.100.0.0/16",
			"ipFamily":        "ipv4",
		},
		"resourcesVpcConfig": map[string]any{
			"subnetIds":              []string{"subnet-00000000000000001", "subnet-00000000000000002"},
			"securityGroupIds":       []string{},
			"clusterSecurityGroupId": "sg-00000000000000001",
			"vpcId":                  "vpc-00000000000000001",
			"endpointPublicAccess":   true,
			"endpointPrivateAccess":  false,
			"publicAccessCidrs":      []string{"0.0.0.0/0"},
		},
		"logging":       map[string]any{"clusterLogging": []map[string]any{{"types": []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}, "enabled": false}}},
		"upgradePolicy": map[string]string{"supportType": "STANDARD"},
		"health":        map[string]any{"issues": []any{}},
		"tags":          tags,
	}
}

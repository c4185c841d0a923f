package eks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/google/go-cmp/cmp"

	emuhttp "github.com/ecrwarden/ecrwarden/internal/emulator"
	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

func start(t testing.TB) *Server {
	t.Helper()
	s := New(Options{Seed: 11})
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func client(s *Server, maxAttempts int) *eks.Client {
	return eks.NewFromConfig(emuhttp.ClientConfig(s.URL(), maxAttempts))
}

// caPEM returns a freshly generated self-signed CA certificate in PEM.
func caPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubernetes"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestDescribeCluster(t *testing.T) {
	s := start(t)
	ca := caPEM(t)
	arn, err := s.AddCluster(Cluster{Name: "retail-forecast", Endpoint: "https://127.0.0.1:6443", CAPEM: ca, Tags: map[string]string{"team": "mlops"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client(s, 1).DescribeCluster(context.Background(), &eks.DescribeClusterInput{Name: aws.String("retail-forecast")})
	if err != nil {
		t.Fatalf("DescribeCluster: %v", err)
	}
	c := out.Cluster
	type summary struct {
		Name, Arn, Endpoint, Version string
		Status                       types.ClusterStatus
		Tags                         map[string]string
		Auth                         types.AuthenticationMode
	}
	want := summary{Name: "retail-forecast", Arn: arn, Endpoint: "https://127.0.0.1:6443", Version: "1.33", Status: types.ClusterStatusActive, Tags: map[string]string{"team": "mlops"}, Auth: types.AuthenticationModeApiAndConfigMap}
	got := summary{Name: aws.ToString(c.Name), Arn: aws.ToString(c.Arn), Endpoint: aws.ToString(c.Endpoint), Version: aws.ToString(c.Version), Status: c.Status, Tags: c.Tags, Auth: c.AccessConfig.AuthenticationMode}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cluster (-want +got):\n%s", diff)
	}
	if arn != "arn:aws:eks:ap-southeast-1:123456789012:cluster/retail-forecast" {
		t.Errorf("ARN = %s", arn)
	}
	// The CA decodes as kubeconfig consumers decode it: base64 → PEM → x509.
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(c.CertificateAuthority.Data))
	if err != nil {
		t.Fatalf("decode CA data: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) || string(raw) != string(ca) {
		t.Errorf("certificateAuthority.data does not hold the seeded PEM")
	}
	if c.CreatedAt == nil || c.Identity == nil || c.Identity.Oidc == nil {
		t.Errorf("createdAt or identity missing: %+v", c)
	}
}

func TestDescribeClusterErrors(t *testing.T) {
	s := start(t)
	c := client(s, 1)
	_, err := c.DescribeCluster(context.Background(), &eks.DescribeClusterInput{Name: aws.String("missing")})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) || aws.ToString(rnf.ClusterName) != "missing" {
		t.Errorf("DescribeCluster(missing) error = %v, want ResourceNotFoundException naming the cluster", err)
	}
	_, err = c.DescribeCluster(context.Background(), &eks.DescribeClusterInput{Name: aws.String("-bad.name")})
	var ip *types.InvalidParameterException
	if !errors.As(err, &ip) {
		t.Errorf("DescribeCluster(-bad.name) error = %v, want InvalidParameterException", err)
	}
}

func TestFaultsAndRetryer(t *testing.T) {
	s := start(t)
	if _, err := s.AddCluster(Cluster{Name: "c1", Endpoint: "https://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	in := &eks.DescribeClusterInput{Name: aws.String("c1")}
	s.Faults().Set("DescribeCluster", fault.Rule{Throttle: 2})
	if _, err := client(s, 3).DescribeCluster(context.Background(), in); err != nil {
		t.Fatalf("DescribeCluster after 2 throttles: %v", err)
	}
	if got := s.Calls().Count("DescribeCluster"); got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
	s.Calls().Reset()
	s.Faults().Set("DescribeCluster", fault.Rule{ServerError: 10, Status: 502})
	_, err := client(s, 3).DescribeCluster(context.Background(), in)
	var se *types.ServerException
	if !errors.As(err, &se) {
		t.Fatalf("error = %v, want ServerException", err)
	}
	if got := s.Calls().Count("DescribeCluster"); got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
}

// FuzzServeHTTP feeds arbitrary paths to the restJson1 router.
func FuzzServeHTTP(f *testing.F) {
	s := New(Options{})
	if _, err := s.AddCluster(Cluster{Name: "c1"}); err != nil {
		f.Fatal(err)
	}
	f.Add("/clusters/c1")
	f.Add("/clusters/%2Fetc")
	f.Add("/clusters/")
	f.Add("/")
	f.Fuzz(func(t *testing.T, path string) {
		u := &url.URL{Path: path}
		req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}}
		req = req.WithContext(context.Background())
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound:
		default:
			t.Fatalf("status %d for %q", rec.Code, path)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("response is not JSON: %s", rec.Body.String())
		}
	})
}

package kube

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
)

// fakeEKS answers DescribeCluster from a map and counts calls.
type fakeEKS struct {
	mu       sync.Mutex
	calls    int
	clusters map[string]ekstypes.Cluster
	err      error
}

func (f *fakeEKS) DescribeCluster(ctx context.Context, params *eks.DescribeClusterInput, optFns ...func(*eks.Options)) (*eks.DescribeClusterOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	c, ok := f.clusters[*params.Name]
	if !ok {
		return nil, errors.New("ResourceNotFoundException: no cluster found for name: " + *params.Name)
	}
	return &eks.DescribeClusterOutput{Cluster: &c}, nil
}

func ptr[T any](v T) *T { return &v }

func TestClusterResolverCaches(t *testing.T) {
	var (
		mu       sync.Mutex
		authSeen []string
	)
	srv := httptestTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		authSeen = append(authSeen, r.Header.Get("Authorization"))
		mu.Unlock()
		writeJSON(w, Deployment{Metadata: ObjectMeta{Name: "web", Namespace: "shop", ResourceVersion: "7"}})
	}))
	api := &fakeEKS{clusters: map[string]ekstypes.Cluster{"retail-forecast": {
		Name:                 ptr("retail-forecast"),
		Endpoint:             ptr(srv.URL),
		Status:               ekstypes.ClusterStatusActive,
		CertificateAuthority: &ekstypes.Certificate{Data: ptr(base64.StdEncoding.EncodeToString(serverCA(srv)))},
	}}}
	presigner := &fakePresigner{}
	r := NewClusterResolver(api, presigner)

	ctx := context.Background()
	var wg sync.WaitGroup
	clients := make([]*Client, 8)
	errs := make([]error, 8)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i], errs[i] = r.Client(ctx, "retail-forecast")
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Client %d: %v", i, err)
		}
		if clients[i] != clients[0] {
			t.Errorf("client %d differs from client 0", i)
		}
	}
	if api.calls != 1 {
		t.Errorf("%d DescribeCluster calls, want 1", api.calls)
	}
	for range 3 {
		if _, err := clients[0].GetDeployment(ctx, "shop", "web"); err != nil {
			t.Fatalf("GetDeployment through the resolved client: %v", err)
		}
	}
	if presigner.calls != 1 {
		t.Errorf("%d presign calls for 3 requests, want 1", presigner.calls)
	}
	for _, a := range authSeen {
		if !strings.HasPrefix(a, "Bearer k8s-aws-v1.") {
			t.Errorf("Authorization = %q, want an EKS bearer token", a)
		}
	}
}

func TestClusterResolverErrors(t *testing.T) {
	good := ekstypes.Cluster{Endpoint: ptr("https://abc.eks.example"), Status: ekstypes.ClusterStatusActive,
		CertificateAuthority: &ekstypes.Certificate{Data: ptr("!!not base64")}}
	tests := []struct {
		name    string
		cluster ekstypes.Cluster
		apiErr  error
		want    string
	}{
		{name: "describe fails", apiErr: errors.New("AccessDeniedException"), want: "describe eks cluster retail-forecast: AccessDeniedException"},
		{name: "creating", cluster: ekstypes.Cluster{Status: ekstypes.ClusterStatusCreating}, want: "is CREATING"},
		{name: "no endpoint", cluster: ekstypes.Cluster{Status: ekstypes.ClusterStatusActive}, want: "no endpoint"},
		{name: "no CA", cluster: ekstypes.Cluster{Endpoint: ptr("https://abc.eks.example")}, want: "no certificate authority"},
		{name: "bad CA", cluster: good, want: "decode certificate authority"},
		{name: "CA without PEM", cluster: ekstypes.Cluster{Endpoint: ptr("https://abc.eks.example"),
			CertificateAuthority: &ekstypes.Certificate{Data: ptr(base64.StdEncoding.EncodeToString([]byte("junk")))}}, want: "holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeEKS{clusters: map[string]ekstypes.Cluster{"retail-forecast": tt.cluster}, err: tt.apiErr}
			r := NewClusterResolver(api, &fakePresigner{})
			for range 2 {
				_, err := r.Client(context.Background(), "retail-forecast")
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("got %v, want an error containing %q", err, tt.want)
				}
			}
			if api.calls != 2 {
				t.Errorf("%d DescribeCluster calls after 2 failures, want 2 (failures are not cached)", api.calls)
			}
		})
	}
}

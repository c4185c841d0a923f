package kube

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// fakeAPI is a small in-memory kube-apiserver: Deployments can be read, listed and patched with a strategic merge
// of containers by name (a missing container is appended, as the real server does); the other kinds are listed
// from fixtures. Lists are paginated by pageSize with continue tokens. fail injects error answers.
type fakeAPI struct {
	t        testing.TB
	pageSize int

	mu          sync.Mutex
	rv          int
	deployments []*Deployment
	objects     map[string][]map[string]any // resource → items
	namespaces  map[string]bool             // the namespaces that exist: those of every object added
	requests    []string
	patches     []string
	// beforePatch runs (under the lock) before a PATCH is applied; tests use it to simulate a concurrent writer.
	beforePatch func(f *fakeAPI, d *Deployment)
	// fail returns a non-zero status to answer a request with an error Status.
	fail func(r *http.Request) int
}

func newFakeAPI(t testing.TB) *fakeAPI {
	return &fakeAPI{t: t, pageSize: 2, objects: map[string][]map[string]any{}, namespaces: map[string]bool{}}
}

// start serves f over TLS on 127.0.0.1 and returns a Client for it authenticated with a static token.
func (f *fakeAPI) start(t testing.TB) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Config{Host: srv.URL, CAData: serverCA(srv), Token: StaticToken("test-token")})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, srv
}

func serverCA(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func (f *fakeAPI) addDeployment(ns, name string, containers, initContainers []Container) *Deployment {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rv++
	d := &Deployment{
		Metadata: ObjectMeta{Name: name, Namespace: ns, ResourceVersion: strconv.Itoa(f.rv), Generation: 1},
		Spec:     DeploymentSpec{Template: PodTemplateSpec{Spec: PodSpec{Containers: containers, InitContainers: initContainers}}},
	}
	f.deployments = append(f.deployments, d)
	f.namespaces[ns] = true
	return d
}

func (f *fakeAPI) addObject(resource string, obj map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[resource] = append(f.objects[resource], obj)
	if meta, ok := obj["metadata"].(map[string]any); ok {
		if ns, ok := meta["namespace"].(string); ok {
			f.namespaces[ns] = true
		}
	}
}

func (f *fakeAPI) find(ns, name string) *Deployment {
	for _, d := range f.deployments {
		if d.Metadata.Namespace == ns && d.Metadata.Name == name {
			return d
		}
	}
	return nil
}

func (f *fakeAPI) requestLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(Status{Kind: "Status", Status: "Failure", Message: msg, Reason: reason, Code: code})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	if r.Header.Get("Authorization") != "Bearer test-token" {
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	if f.fail != nil {
		if code := f.fail(r); code != 0 {
			writeStatus(w, code, http.StatusText(code), "injected failure")
			return
		}
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// /api/v1/[namespaces/NS/]RES[/NAME] or /apis/GROUP/v1/[namespaces/NS/]RES[/NAME]
	if parts[0] == "apis" {
		parts = parts[3:]
	} else {
		parts = parts[2:]
	}
	ns := ""
	if len(parts) >= 3 && parts[0] == "namespaces" {
		ns, parts = parts[1], parts[2:]
	}
	resource := parts[0]
	switch {
	case len(parts) == 2 && resource == "namespaces" && r.Method == http.MethodGet:
		if !f.namespaces[parts[1]] {
			writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("namespaces %q not found", parts[1]))
			return
		}
		writeJSON(w, map[string]any{"kind": "Namespace", "metadata": map[string]any{"name": parts[1]}})
	case len(parts) == 1 && r.Method == http.MethodGet:
		f.serveList(w, r, resource, ns)
	case len(parts) == 2 && resource == "deployments" && r.Method == http.MethodGet:
		d := f.find(ns, parts[1])
		if d == nil {
			writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("deployments.apps %q not found", parts[1]))
			return
		}
		writeJSON(w, d)
	case len(parts) == 2 && resource == "deployments" && r.Method == http.MethodPatch:
		f.servePatch(w, r, ns, parts[1])
	default:
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method+" "+r.URL.Path)
	}
}

func (f *fakeAPI) serveList(w http.ResponseWriter, r *http.Request, resource, ns string) {
	if got := r.URL.Query().Get("limit"); got != "500" {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "limit="+got)
		return
	}
	var items []any
	if resource == "deployments" {
		for _, d := range f.deployments {
			if ns == "" || d.Metadata.Namespace == ns {
				items = append(items, d)
			}
		}
	} else {
		for _, o := range f.objects[resource] {
			meta, _ := o["metadata"].(map[string]any)
			if ns == "" || meta["namespace"] == ns {
				items = append(items, o)
			}
		}
	}
	start := 0
	if c := r.URL.Query().Get("continue"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "page-"))
		if err != nil || n > len(items) {
			writeStatus(w, http.StatusGone, "Expired", "the provided continue parameter is too old")
			return
		}
		start = n
	}
	end := min(start+f.pageSize, len(items))
	meta := map[string]any{"resourceVersion": strconv.Itoa(f.rv)}
	if end < len(items) {
		meta["continue"] = "page-" + strconv.Itoa(end)
	}
	writeJSON(w, map[string]any{"kind": "List", "metadata": meta, "items": append([]any{}, items[start:end]...)})
}

func (f *fakeAPI) servePatch(w http.ResponseWriter, r *http.Request, ns, name string) {
	if ct := r.Header.Get("Content-Type"); ct != strategicMergePatch {
		writeStatus(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", ct)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	f.patches = append(f.patches, string(body))
	d := f.find(ns, name)
	if d == nil {
		writeStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("deployments.apps %q not found", name))
		return
	}
	if f.beforePatch != nil {
		f.beforePatch(f, d)
	}
	var p imagePatch
	if err := json.Unmarshal(body, &p); err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if p.Metadata.ResourceVersion != "" && p.Metadata.ResourceVersion != d.Metadata.ResourceVersion {
		writeStatus(w, http.StatusConflict, "Conflict", fmt.Sprintf("Operation cannot be fulfilled on deployments.apps %q: the object has been modified; please apply your changes to the latest version and try again", name))
		return
	}
	if d.Metadata.Annotations == nil && len(p.Metadata.Annotations) > 0 {
		d.Metadata.Annotations = map[string]string{}
	}
	for k, v := range p.Metadata.Annotations {
		d.Metadata.Annotations[k] = v
	}
	spec := &d.Spec.Template.Spec
	spec.Containers = mergeContainers(spec.Containers, p.Spec.Template.Spec.Containers)
	spec.InitContainers = mergeContainers(spec.InitContainers, p.Spec.Template.Spec.InitContainers)
	f.bump(d)
	d.Metadata.Generation++
	writeJSON(w, d)
}

// bump gives d a new resourceVersion, as any write does.
func (f *fakeAPI) bump(d *Deployment) {
	f.rv++
	d.Metadata.ResourceVersion = strconv.Itoa(f.rv)
}

func mergeContainers(have, patch []Container) []Container {
	out := append([]Container(nil), have...)
	for _, p := range patch {
		found := false
		for i := range out {
			if out[i].Name == p.Name {
				out[i].Image, found = p.Image, true
			}
		}
		if !found {
			out = append(out, p)
		}
	}
	return out
}

// fakePresigner records PresignGetCallerIdentity calls and returns a fixed URL with the call number, and with
// X-Amz-Date when signedAt is set.
type fakePresigner struct {
	mu       sync.Mutex
	calls    int
	err      error
	signedAt func() time.Time
}

func (p *fakePresigner) PresignGetCallerIdentity(ctx context.Context, params *sts.GetCallerIdentityInput, optFns ...func(*sts.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.err != nil {
		return nil, p.err
	}
	u := "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&call=" + strconv.Itoa(p.calls)
	if p.signedAt != nil {
		u += "&X-Amz-Date=" + p.signedAt().UTC().Format(amzDateFormat)
	}
	return &v4.PresignedHTTPRequest{URL: u, Method: http.MethodGet}, nil
}

func jsonUnmarshalString(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func httptestTLS(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// imagePatch is the strategic merge patch a Deployment receives, as the fake decodes it.
type imagePatch struct {
	Metadata imagePatchMeta `json:"metadata"`
	Spec     struct {
		Template imagePatchTemplate `json:"template"`
	} `json:"spec"`
}

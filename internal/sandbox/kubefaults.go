package sandbox

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/ecrwarden/ecrwarden/internal/emulator/fault"
)

// KubeFaults is a TLS reverse proxy in front of the cluster's API server that
// the EKS emulator hands the functions as the cluster endpoint (with its own
// CA), so tests can fail their Kubernetes calls the way a loaded or contended
// API server does: a Throttle fault answers 429 TooManyRequests with
// Retry-After, a ServerError answers its Status (409 Conflict, 500, 503…) as
// a metav1.Status. Calls are named "<verb> <resource>" as RBAC names them
// ("list pods", "get deployments", "patch deployments"); fault.AnyOp matches
// every call.
type KubeFaults struct {
	faults *fault.Injector
	log    fault.Log
	srv    *httptest.Server
}

// Faults returns the proxy's fault injector.
func (k *KubeFaults) Faults() *fault.Injector { return k.faults }

// Calls returns the log of the calls that reached the proxy, faulted or not.
func (k *KubeFaults) Calls() *fault.Log { return &k.log }

// URL is the proxy's https URL.
func (k *KubeFaults) URL() string { return k.srv.URL }

// CAPEM is the PEM of the proxy's serving certificate.
func (k *KubeFaults) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.srv.Certificate().Raw})
}

// Close stops the proxy.
func (k *KubeFaults) Close() { k.srv.Close() }

// StartKubeFaults starts the proxy in front of the API server at host, whose
// serving certificate is caPEM. Close stops it.
func StartKubeFaults(host string, caPEM []byte, seed uint64) (*KubeFaults, error) {
	target, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("kube fault proxy: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("kube fault proxy: no certificate in the API server's CA")
	}
	k := &KubeFaults{faults: fault.New(seed)}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	// A caller that gave up (a killed invocation) is not the proxy's error.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	gate := fault.Gate{Injector: k.faults, Log: &k.log, Write: writeKubeFault}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !gate.Admit(w, r, KubeOp(r.Method, r.URL.Path), nil) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	return k, nil
}

// KubeOp names an API request as RBAC does: "<verb> <resource>", e.g.
// "list pods" for GET /api/v1/namespaces/default/pods and "patch
// deployments" for PATCH /apis/apps/v1/namespaces/default/deployments/api.
func KubeOp(method, path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// /api/v1/... or /apis/<group>/<version>/...
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return strings.ToLower(method) + " " + path
	}
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		parts = parts[2:]
	}
	resource, named := "", false
	switch len(parts) {
	case 0:
		return strings.ToLower(method)
	case 1:
		resource = parts[0]
	default:
		resource, named = parts[0], true
		if len(parts) > 2 {
			resource += "/" + parts[2] // a subresource: deployments/status
		}
	}
	verb := map[string]string{http.MethodPatch: "patch", http.MethodPut: "update", http.MethodPost: "create", http.MethodDelete: "delete"}[method]
	if verb == "" {
		verb = "list"
		if named {
			verb = "get"
		}
	}
	return verb + " " + resource
}

// writeKubeFault answers a faulted call as the API server answers it: a
// metav1.Status with the reason of the status code.
func writeKubeFault(w http.ResponseWriter, k fault.Kind, status int) {
	if k == fault.Throttle {
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
	}
	reason := map[int]string{
		http.StatusConflict:            "Conflict",
		http.StatusTooManyRequests:     "TooManyRequests",
		http.StatusServiceUnavailable:  "ServiceUnavailable",
		http.StatusGatewayTimeout:      "Timeout",
		http.StatusInternalServerError: "InternalError",
	}[status]
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status, "reason": reason,
		"message": "injected fault: " + strings.ToLower(http.StatusText(status)),
	})
}

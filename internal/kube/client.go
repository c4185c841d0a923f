package kube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// requestTimeout bounds one whole HTTP exchange with the API server, body included.
	requestTimeout = 60 * time.Second
	// maxResponseBytes bounds a response body; a list page of 500 Pods is a few MiB.
	maxResponseBytes = 64 << 20
	// maxErrorBodyBytes bounds how much of a non-Status error body is kept in a StatusError message.
	maxErrorBodyBytes = 1 << 10
	userAgent         = "ecrwarden"
)

// Config says how to reach and authenticate to one Kubernetes API server.
type Config struct {
	// Host is the API server URL, e.g. the EKS cluster endpoint "https://ABC.gr7.us-east-1.eks.amazonaws.com".
	// A host without a scheme is taken as https.
	Host string
	// CAData is the PEM bundle that signs the API server's certificate. Empty means the system roots.
	CAData []byte
	// Token supplies the bearer token sent with every request.
	Token TokenSource
}

// Client is a lean Kubernetes REST client: net/http and encoding/json, for the handful of calls ecrwarden makes.
// It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token TokenSource
	http  *http.Client
}

// New returns a Client for cfg. It fails if the host is not an https URL, the CA bundle holds no certificate, or
// no token source is given.
func New(cfg Config) (*Client, error) {
	host := cfg.Host
	if host == "" {
		return nil, errors.New("kube config: empty host")
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	base, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("kube config: parse host: %w", err)
	}
	if base.Scheme != "https" || base.Host == "" {
		return nil, fmt.Errorf("kube config: host %q is not an https URL", cfg.Host)
	}
	base.Path = strings.TrimRight(base.Path, "/")
	if cfg.Token == nil {
		return nil, errors.New("kube config: no token source")
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.CAData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CAData) {
			return nil, errors.New("kube config: CA data holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
	return &Client{
		base:  base,
		token: cfg.Token,
		http:  &http.Client{Transport: transport, Timeout: requestTimeout},
	}, nil
}

// StatusError is a non-2xx answer from the API server, with the metav1.Status body it carried. Use errors.As to
// get it, or IsNotFound, IsConflict and IsForbidden.
type StatusError struct {
	// Method and Path name the request that failed.
	Method string
	Path   string
	// Code is the HTTP status code.
	Code int
	// Status is the decoded Status body; when the body was not a Status, Reason is empty and Message holds the
	// start of the body.
	Status Status
}

// Error names the request, the HTTP status and the API server's reason and message.
func (e *StatusError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kubernetes %s %s: %d %s", e.Method, e.Path, e.Code, http.StatusText(e.Code))
	if e.Status.Reason != "" {
		fmt.Fprintf(&b, " (%s)", e.Status.Reason)
	}
	if e.Status.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Status.Message)
	}
	return b.String()
}

func statusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// IsNotFound reports whether err carries a 404 answer from the API server.
func IsNotFound(err error) bool { return statusCode(err) == http.StatusNotFound }

// IsConflict reports whether err carries a 409 answer from the API server, such as a stale resourceVersion.
func IsConflict(err error) bool { return statusCode(err) == http.StatusConflict }

// IsForbidden reports whether err carries a 403 answer from the API server (RBAC denied the request).
func IsForbidden(err error) bool { return statusCode(err) == http.StatusForbidden }

// do sends one request to path (with query) and decodes a 2xx JSON answer into out when out is not nil. A 401
// Unauthorized answer to a token the source can invalidate (an EKS token that expired, say while the Lambda
// sandbox was frozen) drops that token and retries the request once with a new one.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, contentType string, body []byte, out any) error {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	for attempt := 1; ; attempt++ {
		var reader io.Reader
		if body != nil {
			reader = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
		if err != nil {
			return fmt.Errorf("build request %s %s: %w", method, path, err)
		}
		token, err := c.token.Token(ctx)
		if err != nil {
			return fmt.Errorf("get kubernetes token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", userAgent)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return fmt.Errorf("kubernetes %s %s: %w", method, path, err)
		}
		if inv, ok := c.token.(TokenInvalidator); ok && resp.StatusCode == http.StatusUnauthorized && attempt == 1 {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBodyBytes))
			resp.Body.Close()
			inv.Invalidate(token)
			continue
		}
		return decodeResponse(resp, method, path, out)
	}
}

// decodeResponse reads one answer: a 2xx JSON body into out (when not nil), anything else as a StatusError.
func decodeResponse(resp *http.Response, method, path string, out any) error {
	defer resp.Body.Close()
	limited := io.LimitReader(resp.Body, maxResponseBytes)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return decodeStatusError(method, path, resp.StatusCode, limited)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, limited)
		return nil
	}
	if err := json.NewDecoder(limited).Decode(out); err != nil {
		return fmt.Errorf("kubernetes %s %s: decode response: %w", method, path, err)
	}
	return nil
}

func decodeStatusError(method, path string, code int, body io.Reader) error {
	raw, err := io.ReadAll(body)
	se := &StatusError{Method: method, Path: path, Code: code}
	if err != nil {
		se.Status.Message = "read error body: " + err.Error()
		return se
	}
	var st Status
	if json.Unmarshal(raw, &st) == nil && st.Kind == "Status" {
		se.Status = st
		return se
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > maxErrorBodyBytes {
		msg = msg[:maxErrorBodyBytes] + "…"
	}
	se.Status.Message = msg
	return se
}

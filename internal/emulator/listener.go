package emulator

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
)

// Listener serves an emulator's handler on a local address. Emulators embed
// it, so each has the same Start/URL/Close life cycle.
type Listener struct {
	srv *http.Server
	url string
}

// Serve serves h on addr ("127.0.0.1:0" picks a free port) and returns the
// base URL to use as the SDK client's BaseEndpoint.
func (l *Listener) Serve(addr string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	l.srv = &http.Server{Handler: h}
	l.url = "http://" + ln.Addr().String()
	go func() { _ = l.srv.Serve(ln) }()
	return l.url, nil
}

// ServeTLS is Serve over TLS with cfg (which holds the server certificate);
// the base URL is https.
func (l *Listener) ServeTLS(addr string, h http.Handler, cfg *tls.Config) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	l.srv = &http.Server{Handler: h, TLSConfig: cfg}
	l.url = "https://" + ln.Addr().String()
	go func() { _ = l.srv.Serve(tls.NewListener(ln, cfg)) }()
	return l.url, nil
}

// URL returns the base URL of a started server.
func (l *Listener) URL() string { return l.url }

// Close stops a started server.
func (l *Listener) Close() error {
	if l.srv == nil {
		return nil
	}
	return l.srv.Close()
}

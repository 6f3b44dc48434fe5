// Package pathmap implements http.handlers.ajp_path_map, Apache's ProxyPass
// path mapping and ProxyPassReverse for a reverse_proxy in front of Tomcat.
// The ajp_balancer directive puts it in front of its reverse_proxy; it is a
// handler of its own, usable from JSON, and works with any transport.
package pathmap

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-ajp/caddy-ajp/internal/tomcatpath"
)

func init() {
	caddy.RegisterModule(PathMap{})
}

// PathMap is Apache's ProxyPass path mapping and ProxyPassReverse for a
// reverse_proxy in front of Tomcat: it maps the client-facing path prefix to
// the members' path before the request is proxied, and maps Location,
// Content-Location, URI and Set-Cookie Path/Domain in the response back.
// Paths are read the way Tomcat reads them (internal/tomcatpath), so the
// mapping and what Tomcat serves can never disagree. The ajp_balancer
// directive puts it in front of its reverse_proxy.
type PathMap struct {
	// The client-facing path prefix, e.g. `/app` (no trailing slash); empty
	// for the whole site.
	Prefix string `json:"prefix,omitempty"`

	// The members' path prefix, e.g. `/share`; empty for none.
	BackendPrefix string `json:"backend_prefix,omitempty"`

	// Rewrite responses back to the client's view (ProxyPassReverse,
	// ProxyPassReverseCookiePath and ProxyPassReverseCookieDomain).
	Reverse bool `json:"reverse,omitempty"`

	// The members' host:port, as their URLs name them: absolute URLs in
	// responses that point at one of them are rewritten to the client-facing
	// scheme and host.
	Backends []string `json:"backends,omitempty"`

	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (PathMap) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.ajp_path_map",
		New: func() caddy.Module { return new(PathMap) },
	}
}

// Provision checks the config and sets up the handler.
func (m *PathMap) Provision(ctx caddy.Context) error {
	m.logger = ctx.Logger()
	if err := m.CheckConfig(); err != nil {
		return err
	}
	m.Prefix = strings.TrimRight(m.Prefix, "/")
	m.BackendPrefix = strings.TrimRight(m.BackendPrefix, "/")
	return nil
}

// CheckConfig reports the first value of the configuration that the
// handler refuses. It is the one place the handler's rules live: Provision
// calls it, and so does the ajp_balancer directive on the handler it
// builds. The prefixes are paths as Tomcat reads them: empty, or absolute
// with nothing Tomcat would resolve differently (dot segments, encoded
// slashes); the backends are host:port.
func (m *PathMap) CheckConfig() error {
	for _, p := range []struct{ name, v string }{{"prefix", m.Prefix}, {"backend_prefix", m.BackendPrefix}} {
		if p.v == "" {
			continue
		}
		if !strings.HasPrefix(p.v, "/") || strings.ContainsAny(p.v, "?#") {
			return fmt.Errorf("ajp_path_map: %s %q is not an absolute path", p.name, p.v)
		}
		if err := tomcatpath.Check(p.v); err != nil {
			return fmt.Errorf("ajp_path_map: %s %q: %w", p.name, p.v, err)
		}
	}
	for _, b := range m.Backends {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("ajp_path_map: backend %q is not host:port: %w", b, err)
		}
	}
	return nil
}

// ServeHTTP maps the request path and, with Reverse, the response headers.
func (m *PathMap) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	raw := r.URL.EscapedPath()
	if err := tomcatpath.Check(raw); err != nil {
		m.logger.Warn("refusing a path that Tomcat would resolve differently than it was matched; answered 400",
			zap.String("path", raw), zap.Error(err))
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	served, err := tomcatpath.Normalize(raw)
	if err != nil {
		return caddyhttp.Error(http.StatusBadRequest, err)
	}
	// Caddy's path matchers ignore case; Tomcat's context paths do not.
	// "/SHARE/x" matched by "/share*" would reach another context (ROOT).
	if !underPrefix(served, m.Prefix) {
		return caddyhttp.Error(http.StatusNotFound, nil)
	}
	if m.Prefix != m.BackendPrefix {
		var mapped string
		if underPrefix(raw, m.Prefix) {
			mapped = m.BackendPrefix + raw[len(m.Prefix):]
		} else {
			// the prefix is there only after decoding (e.g. "/%61pp/x"):
			// map Tomcat's reading of it
			mapped = m.BackendPrefix + (&url.URL{Path: served[len(m.Prefix):]}).EscapedPath()
		}
		if mapped == "" {
			mapped = "/"
		}
		path, err := url.PathUnescape(mapped)
		if err != nil {
			return caddyhttp.Error(http.StatusBadRequest, err)
		}
		r.URL.Path, r.URL.RawPath = path, mapped
	}
	if m.Reverse {
		rw := &reverseWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, m: m, r: r}
		return next.ServeHTTP(rw, r)
	}
	return next.ServeHTTP(w, r)
}

// underPrefix reports whether p is prefix or below it, at a segment
// boundary (a path parameter ends a segment too).
func underPrefix(p, prefix string) bool {
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	rest := p[len(prefix):]
	return rest == "" || rest[0] == '/' || rest[0] == ';'
}

// backToFront maps a backend path to the client's: "/share/x" → "/app/x".
func (m *PathMap) backToFront(p string) (string, bool) {
	if !underPrefix(p, m.BackendPrefix) {
		return p, false
	}
	out := m.Prefix + p[len(m.BackendPrefix):]
	if out == "" || out[0] != '/' {
		out = "/" + out
	}
	return out, true
}

// isBackend reports whether host ("host:port") is one of the members;
// isBackendHost compares the host part only (a cookie Domain has no port).
func (m *PathMap) isBackend(host string) bool     { return m.backendMatch(host, false) }
func (m *PathMap) isBackendHost(host string) bool { return m.backendMatch(host, true) }

func (m *PathMap) backendMatch(host string, hostOnly bool) bool {
	for _, b := range m.Backends {
		if hostOnly {
			if h, _, err := net.SplitHostPort(b); err == nil {
				b = h
			}
		}
		if strings.EqualFold(b, host) {
			return true
		}
	}
	return false
}

// reverseURL is ProxyPassReverse for one header value.
func (m *PathMap) reverseURL(v string, r *http.Request) string {
	u, err := url.Parse(v)
	if err != nil {
		return v
	}
	switch {
	case u.Host != "" && m.isBackend(u.Host):
		u.Scheme, u.Host = "http", r.Host
		if r.TLS != nil {
			u.Scheme = "https"
		}
	case u.Host != "" && !strings.EqualFold(u.Host, r.Host):
		return v // somewhere else entirely
	case u.Host == "" && (u.Scheme != "" || !strings.HasPrefix(u.Path, "/")):
		return v // a relative reference resolves on its own
	}
	if mapped, ok := m.backToFront(u.EscapedPath()); ok && m.Prefix != m.BackendPrefix {
		if p, err := url.PathUnescape(mapped); err == nil {
			u.Path, u.RawPath = p, mapped
		}
	}
	return u.String()
}

// reverseCookie rewrites the Path and Domain attributes of a Set-Cookie.
func (m *PathMap) reverseCookie(v string, r *http.Request) string {
	parts := strings.Split(v, ";")
	changed := false
	for i := 1; i < len(parts); i++ {
		k, val, ok := strings.Cut(strings.TrimSpace(parts[i]), "=")
		if !ok {
			continue
		}
		switch {
		case strings.EqualFold(k, "Path") && m.Prefix != m.BackendPrefix:
			if mapped, ok := m.backToFront(val); ok {
				parts[i] = " " + k + "=" + mapped
				changed = true
			}
		case strings.EqualFold(k, "Domain") && m.isBackendHost(strings.TrimPrefix(val, ".")):
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			parts[i] = " " + k + "=" + host
			changed = true
		}
	}
	if !changed {
		return v
	}
	return strings.Join(parts, ";")
}

// reverseWriter applies ProxyPassReverse to the response headers when they
// are written. It holds the wrapper by value: one allocation per request.
type reverseWriter struct {
	caddyhttp.ResponseWriterWrapper
	m    *PathMap
	r    *http.Request
	done bool
}

func (w *reverseWriter) rewrite() {
	if w.done {
		return
	}
	w.done = true
	h := w.Header()
	for _, name := range []string{"Location", "Content-Location", "Uri"} {
		for i, v := range h[name] {
			h[name][i] = w.m.reverseURL(v, w.r)
		}
	}
	for i, v := range h["Set-Cookie"] {
		h["Set-Cookie"][i] = w.m.reverseCookie(v, w.r)
	}
}

func (w *reverseWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.rewrite()
	}
	w.ResponseWriterWrapper.WriteHeader(code)
}

func (w *reverseWriter) Write(b []byte) (int, error) {
	w.rewrite()
	return w.ResponseWriterWrapper.Write(b)
}

func (w *reverseWriter) ReadFrom(src io.Reader) (int64, error) {
	w.rewrite()
	return w.ResponseWriterWrapper.ReadFrom(src)
}

func (w *reverseWriter) FlushError() error {
	w.rewrite()
	return http.NewResponseController(&w.ResponseWriterWrapper).Flush()
}

// Interface guards
var (
	_ caddy.Provisioner           = (*PathMap)(nil)
	_ caddyhttp.MiddlewareHandler = (*PathMap)(nil)
)

package ajptransport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/ajp"
	"github.com/caddy-ajp/caddy-ajp/internal/tomcatpath"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// This file is the first step of a round trip: everything that can refuse
// a request happens here, before a connection is taken.

// maxTomcatHeaders is the default maxHeaderCount of Tomcat's connectors.
const maxTomcatHeaders = 100

// prepare turns r into an exchange ready to be sent: FORWARD_REQUEST
// encoded, and with a body of known length, its first packet read from the
// client (so a slow client holds no connection). A request that must not
// reach Tomcat gets its answer instead (refusal), logged at DEBUG: it is
// the client's doing, not something an operator must act on.
func (t *Transport) prepare(r *http.Request) (ex *exchange, refusal *http.Response, err error) {
	network, addr := dialTarget(r)
	if up := r.Header.Get("Upgrade"); up != "" {
		return nil, t.refuseUpgrade(r, addr, up), nil
	}

	// One allocation holds the request's encoding state and the response.
	ex = &exchange{t: t, network: network, addr: addr, ctx: r.Context(), respCL: -1, bodyLeft: -1}
	fr := &ex.fr
	fr.Headers, fr.ReqAttributes = ex.hdrs[:0], ex.attrs[:0]
	t.buildForwardRequest(r, fr)

	// Tomcat removes ";parameters" and percent-decodes before it resolves
	// dot-segments: "/share/..;/manager" is "/manager" to it, whatever a
	// matcher in front decided. Such a request never reaches Tomcat.
	if err := tomcatpath.Check(fr.RequestURI); err != nil {
		return nil, t.refusePath(r, addr, fr.RequestURI, err), nil
	}

	// Tomcat's AJP connector refuses more than maxHeaderCount (100)
	// headers. The count is what Tomcat would get: the client's headers and
	// those reverse_proxy adds (X-Forwarded-For, -Proto, -Host).
	if len(fr.Headers) > maxTomcatHeaders {
		return nil, t.refuseHeaderCount(r, addr, len(fr.Headers)), nil
	}

	wbuf := t.getBuf()
	b, err := ajp.AppendForwardRequest((*wbuf)[:0], fr, t.PacketSize)
	if err != nil {
		t.putBuf(wbuf)
		return nil, t.refuseEncoding(r, addr, err), nil
	}

	ex.wbuf = wbuf
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		ex.body = r.Body
		ex.bodyLeft = r.ContentLength // -1 when unknown
		ex.bodyUnread = r.ContentLength
	} else {
		ex.bodyDone = true
	}
	// With a known length, the first body packet goes along unrequested.
	if ex.bodyLeft > 0 {
		n := int(min(ex.bodyLeft, int64(t.PacketSize-ajp.BodyChunkOverhead)))
		start := len(b)
		b = ajp.AppendBodyChunkHeader(b, n)
		b = b[:len(b)+n]
		if _, err := io.ReadFull(bodyReader{ex}, b[start+ajp.BodyChunkOverhead:]); err != nil {
			ex.release()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the body ended before its Content-Length
			}
			resp, err := t.failed(r, addr, fmt.Errorf("%w: %w", errClientBody, err))
			return nil, resp, err
		}
		ex.bodyLeft -= int64(n)
		ex.bodySent = int64(n)
		if ex.bodyLeft == 0 {
			ex.bodyDone = true
		}
	}
	*wbuf = b
	return ex, nil, nil
}

// The refusals: each answers the client with the plain status and logs
// why at DEBUG. They are functions of their own (not inlined) so that the
// log fields of every refusal do not take room in prepare's stack frame on
// every request: a request's goroutine that outgrows its stack pays for
// copying it (HTTP/2 starts one per request).

//go:noinline
func (t *Transport) refuseUpgrade(r *http.Request, addr, upgrade string) *http.Response {
	return t.refused(r, addr, http.StatusNotImplemented,
		"AJP cannot carry protocol upgrades: name the node's HTTP connector (ajp_balancer: member ajp://… http=host:port), "+
			"or route upgrade requests to it with a reverse_proxy over HTTP", zap.String("upgrade", upgrade))
}

//go:noinline
func (t *Transport) refusePath(r *http.Request, addr, path string, err error) *http.Response {
	return t.refused(r, addr, http.StatusBadRequest,
		"refusing a path that Tomcat would resolve differently than Caddy matched it",
		zap.String("path", path), zap.Error(err))
}

//go:noinline
func (t *Transport) refuseHeaderCount(r *http.Request, addr string, n int) *http.Response {
	return t.refused(r, addr, http.StatusBadRequest, "too many request headers for Tomcat's AJP connector (maxHeaderCount)",
		zap.Int("headers", n), zap.Int("limit", maxTomcatHeaders))
}

//go:noinline
func (t *Transport) refuseEncoding(r *http.Request, addr string, err error) *http.Response {
	if errors.Is(err, ajp.ErrPacketTooLarge) {
		fields := []zap.Field{zap.Int("packet_size", t.PacketSize)}
		if t.PacketSize < ajp.MaxPacketSize {
			fields = append(fields, zap.String("remedy", fmt.Sprintf(
				"raise packet_size in the ajp transport and packetSize on Tomcat's AJP connector to the same value (at most %d)", ajp.MaxPacketSize)))
		}
		return t.refused(r, addr, http.StatusBadRequest, "request headers do not fit in one AJP packet", fields...)
	}
	return t.refused(r, addr, http.StatusBadRequest, "request cannot be encoded as AJP", zap.Error(err))
}

func (t *Transport) refused(r *http.Request, addr string, status int, msg string, fields ...zap.Field) *http.Response {
	t.logger.Debug(msg, append(fields, zap.String("upstream", addr), zap.Int("status", status))...)
	return refuse(r, status)
}

// hopHeaders are never forwarded: they describe the client's connection to
// Caddy, not the request (RFC 9110 7.6.1). Host and Content-Length are
// rebuilt from the request itself.
var hopHeaders = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
	"Host":                true,
	"Content-Length":      true,
}

// buildForwardRequest fills fr from r. Only what Caddy itself determined
// (client address, TLS state, its own authentication) and the operator's
// configuration become attributes; nothing the client sends does.
func (t *Transport) buildForwardRequest(r *http.Request, fr *ajp.ForwardRequest) {
	fr.Method = r.Method
	fr.Protocol = r.Proto
	if fr.Protocol == "" {
		fr.Protocol = "HTTP/1.1"
	}
	fr.RequestURI = r.URL.EscapedPath()
	if fr.RequestURI == "" {
		fr.RequestURI = "/"
	}
	fr.QueryString = r.URL.RawQuery
	fr.HasQuery = r.URL.ForceQuery || r.URL.RawQuery != ""

	// The client address as Caddy determined it (trusted_proxies honoured).
	clientIP, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	connIP, connPort, _ := net.SplitHostPort(r.RemoteAddr)
	if clientIP == "" {
		clientIP = connIP
	} else if hasPort(clientIP) {
		if h, _, err := net.SplitHostPort(clientIP); err == nil {
			clientIP = h
		}
	}
	fr.RemoteAddr = clientIP
	fr.RemoteHost = ""

	// server_name comes from Host; server_port is the port Caddy accepted
	// the connection on: Tomcat reports it as getLocalPort() (its
	// getServerPort() comes from the Host header), as behind Apache.
	fr.ServerName, fr.ServerPort = serverNamePort(r.Host, r.TLS != nil)
	fr.IsSSL = r.TLS != nil
	var localIP string
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ip, port, ok := t.locals.lookup(la); ok {
			localIP = ip
			if port != 0 {
				fr.ServerPort = port
			}
		}
	}

	fr.Headers = forwardHeaders(r, fr.Headers[:0])
	t.forwardAttributes(r, fr, connIP, connPort, clientIP, localIP)
}

// forwardHeaders appends the client's headers to hs as Tomcat gets them:
// hop-by-hop ones dropped, repeated ones joined, Host and Content-Length
// from the request itself.
func forwardHeaders(r *http.Request, hs []ajp.Header) []ajp.Header {
	hs = hs[:0]
	var connTokens string
	if c := r.Header["Connection"]; len(c) > 0 {
		connTokens = strings.ToLower(strings.Join(c, ","))
	}
	for name, vals := range r.Header {
		if hopHeaders[name] || len(vals) == 0 {
			continue
		}
		if name == "User-Agent" && len(vals) == 1 && vals[0] == "" {
			// reverse_proxy sets an empty User-Agent when the client sent
			// none (to keep Go's HTTP client from adding one); the servlet
			// must see none, as behind Apache
			continue
		}
		if connTokens != "" && connectionListed(connTokens, name) {
			continue
		}
		v := vals[0]
		if len(vals) > 1 {
			sep := ", "
			if name == "Cookie" {
				sep = "; "
			}
			v = strings.Join(vals, sep)
		}
		hs = append(hs, ajp.Header{Name: name, Value: v})
	}
	if r.Host != "" {
		hs = append(hs, ajp.Header{Name: "Host", Value: r.Host})
	}
	switch {
	case r.ContentLength > 0:
		hs = append(hs, ajp.Header{Name: "Content-Length", Value: strconv.FormatInt(r.ContentLength, 10)})
	case r.ContentLength == 0 && len(r.Header["Content-Length"]) > 0:
		hs = append(hs, ajp.Header{Name: "Content-Length", Value: "0"})
	}
	return hs
}

// forwardAttributes sets the attributes: only what Caddy itself determined
// (client address, TLS state, its own authentication) and the operator's
// request_attributes.
func (t *Transport) forwardAttributes(r *http.Request, fr *ajp.ForwardRequest, connIP, connPort, clientIP, localIP string) {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	fr.RemoteUser, fr.AuthType = "", ""
	if repl != nil {
		if user, ok := repl.GetString("http.auth.user.id"); ok && user != "" {
			fr.RemoteUser = user
			fr.AuthType = authScheme(r.Header.Get("Authorization"))
		}
	}
	fr.Secret = t.secret
	attrs := fr.ReqAttributes[:0]
	if connPort != "" && connIP == clientIP {
		attrs = append(attrs, ajp.Attribute{Name: "AJP_REMOTE_PORT", Value: connPort})
	}
	if localIP != "" {
		attrs = append(attrs, ajp.Attribute{Name: "AJP_LOCAL_ADDR", Value: localIP})
	}
	fr.SSLCert, fr.SSLCipher, fr.SSLSession, fr.SSLKeySize = "", "", "", 0
	if cs := r.TLS; cs != nil {
		f := t.tlsConns.facts(cs, r.ProtoMajor != 3)
		fr.SSLCipher, fr.SSLKeySize, fr.SSLSession, fr.SSLCert = f.cipher, f.keySize, f.session, f.certs
		attrs = append(attrs, ajp.Attribute{Name: "AJP_SSL_PROTOCOL", Value: f.protocol})
	}
	for _, a := range t.RequestAttributes {
		v := a.Value
		if repl != nil && strings.IndexByte(v, '{') >= 0 {
			v = repl.ReplaceAll(v, "")
		}
		attrs = append(attrs, ajp.Attribute{Name: a.Name, Value: v})
	}
	fr.ReqAttributes = attrs
}

// connectionListed reports whether the lower-cased, comma-separated tokens
// of the Connection header name the header.
func connectionListed(tokens, name string) bool {
	for _, tok := range strings.Split(tokens, ",") {
		if strings.TrimSpace(tok) == strings.ToLower(name) {
			return true
		}
	}
	return false
}

// hasPort reports whether a client address (an IP as Caddy determined it)
// carries a port: "192.0.2.1:5678" or "[2001:db8::1]:5678"; a bare IPv6
// address has several colons and no brackets.
func hasPort(addr string) bool {
	return strings.HasPrefix(addr, "[") || strings.Count(addr, ":") == 1
}

// localAddrs remembers how the addresses Caddy listens on are written in
// AJP: every connection accepted on one listener has the same local
// address, so it is formatted once, not on every request.
type localAddrs struct {
	known atomic.Pointer[[]localAddr]
}

type localAddr struct {
	key  netip.AddrPort
	ip   string
	port uint16
}

// maxLocalAddrs bounds the cache; addresses beyond it are formatted per
// request, as before.
const maxLocalAddrs = 16

// lookup returns the IP and port of la as AJP_LOCAL_ADDR and server_port
// carry them; ok is false when la is not host:port, port 0 when its port
// is not a number.
func (l *localAddrs) lookup(la net.Addr) (ip string, port uint16, ok bool) {
	tcp, isTCP := la.(*net.TCPAddr)
	var key netip.AddrPort
	if isTCP {
		key = tcp.AddrPort()
		if known := l.known.Load(); known != nil {
			for _, a := range *known {
				if a.key == key {
					return a.ip, a.port, true
				}
			}
		}
	}
	h, p, err := net.SplitHostPort(la.String())
	if err != nil {
		return "", 0, false
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return h, 0, true
	}
	if isTCP {
		old := l.known.Load()
		var next []localAddr
		if old != nil {
			next = append(next, *old...)
		}
		if len(next) < maxLocalAddrs {
			next = append(next, localAddr{key: key, ip: h, port: uint16(n)})
			l.known.CompareAndSwap(old, &next)
		}
	}
	return h, uint16(n), true
}

// serverNamePort splits the request's Host into the server_name and
// server_port fields; without a port, the scheme's default.
func serverNamePort(host string, isTLS bool) (string, uint16) {
	port := uint16(80)
	if isTLS {
		port = 443
	}
	name := host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		if p, err := strconv.ParseUint(host[i+1:], 10, 16); err == nil {
			port = uint16(p)
		}
		name = host[:i]
	}
	return name, port
}

func authScheme(authorization string) string {
	scheme, _, _ := strings.Cut(authorization, " ")
	return scheme
}

// cipherKeyBits returns the symmetric key size of a TLS cipher suite, as
// the servlet attribute jakarta.servlet.request.key_size reports it.
func cipherKeyBits(name string) int {
	switch {
	case strings.Contains(name, "AES_128"), strings.Contains(name, "RC4_128"):
		return 128
	case strings.Contains(name, "AES_256"), strings.Contains(name, "CHACHA20"):
		return 256
	case strings.Contains(name, "3DES"):
		return 168
	}
	return 0
}

func tlsProtocolName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1"
	}
	return "unknown"
}

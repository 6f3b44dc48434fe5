// Package apachetest runs Apache httpd 2.4 with mod_proxy_ajp or mod_jk in
// front of Tomcat, for tests that compare caddy-ajp with what users migrate
// from. Apache runs in the foreground from a generated config in a temporary
// directory, listens on 127.0.0.1 only and is stopped by its PID.
package apachetest

import (
	"fmt"
	"net"
	"regexp"
	"strings"
)

// The front ends Options.Mode selects.
const (
	// ModeProxyAJP is mod_proxy_ajp behind mod_proxy_balancer.
	ModeProxyAJP = "proxy_ajp"
	// ModeJK is mod_jk with an lb worker.
	ModeJK = "jk"
)

// Options describe one Apache httpd.
type Options struct {
	// Port is the port Apache listens on, on 127.0.0.1.
	// Default: 0, a free port.
	Port int

	// Mode is ModeProxyAJP or ModeJK. Default: ModeProxyAJP.
	Mode string

	// Members are the Tomcat AJP connectors behind the balancer. At least one.
	Members []Member

	// Secret is the AJP secret: secret= on each BalancerMember, or
	// worker.X.secret for mod_jk. Default: "", none.
	Secret string

	// Path is the URL path mapped to the members, which serve it under the
	// same path (the webapp's context path). Default: "/share".
	Path string

	// ExtraConfig is appended to the generated httpd.conf.
	ExtraConfig string

	// PacketSize is the AJP packet size, 8192–65536: ProxyIOBufferSize for
	// mod_proxy_ajp, worker.X.max_packet_size for mod_jk. It must match the
	// Tomcat connector's packetSize. Default: 0, the modules' 8192.
	PacketSize int

	// LogLevel is httpd's LogLevel (and JkLogLevel's level for mod_jk).
	// Default: "warn".
	LogLevel string

	// TLS adds a second listener on 127.0.0.1 that speaks TLS (mod_ssl) and,
	// with HTTP2, HTTP/2 (mod_http2), mapping Path as the plain listener
	// does. Default: nil, plain HTTP only.
	TLS *TLS
}

// TLS is Apache's HTTPS listener.
type TLS struct {
	// Port is the HTTPS port on 127.0.0.1. Default: 0, a free port.
	Port int
	// CertFile and KeyFile are PEM files: SSLCertificateFile and
	// SSLCertificateKeyFile. Required.
	CertFile, KeyFile string
	// Protocol is SSLProtocol. Default: "-all +TLSv1.3".
	Protocol string
	// Curves, if set, is the OpenSSL group list of SSLOpenSSLConfCmd Curves
	// (e.g. "X25519"). Default: "", OpenSSL's.
	Curves string
	// HTTP2 loads mod_http2 and sets `Protocols h2 http/1.1` on the listener
	// (ALPN: h2 preferred). Default: false, HTTP/1.1 only.
	HTTP2 bool
}

// Member is one Tomcat behind the balancer.
type Member struct {
	// Addr is the AJP connector, "127.0.0.1:8009".
	Addr string
	// Route is the member's route, the Tomcat Engine's jvmRoute: the text
	// after the first "." of a session id that sticks to this member.
	// Default: "" (mod_proxy_ajp: no route; mod_jk: the worker name).
	Route string
}

// routeRE is what both modules accept as a route without quoting.
var routeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]*$`)

func (o *Options) setDefaults() error {
	switch o.Mode {
	case "":
		o.Mode = ModeProxyAJP
	case ModeProxyAJP, ModeJK:
	default:
		return fmt.Errorf("unknown mode %q (want %q or %q)", o.Mode, ModeProxyAJP, ModeJK)
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("invalid port %d", o.Port)
	}
	if len(o.Members) == 0 {
		return fmt.Errorf("no members")
	}
	for _, m := range o.Members {
		host, port, err := net.SplitHostPort(m.Addr)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("member address %q is not host:port", m.Addr)
		}
		if !routeRE.MatchString(m.Route) {
			return fmt.Errorf("member %s: route %q has characters outside [A-Za-z0-9_.-]", m.Addr, m.Route)
		}
	}
	if o.Path == "" {
		o.Path = "/share"
	}
	if !strings.HasPrefix(o.Path, "/") || strings.HasSuffix(o.Path, "/") || strings.ContainsAny(o.Path, " \t\"\n*") {
		return fmt.Errorf("path %q must start and not end with / and hold no spaces, quotes or *", o.Path)
	}
	if strings.ContainsAny(o.Secret, " \t\"'\n\\") {
		return fmt.Errorf("the secret must not contain spaces, quotes or backslashes")
	}
	if o.PacketSize != 0 && (o.PacketSize < 8192 || o.PacketSize > 65536) {
		return fmt.Errorf("PacketSize %d is outside 8192–65536", o.PacketSize)
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	if t := o.TLS; t != nil {
		if t.CertFile == "" || t.KeyFile == "" {
			return fmt.Errorf("TLS needs CertFile and KeyFile")
		}
		if t.Port < 0 || t.Port > 65535 || t.Port == o.Port && t.Port != 0 {
			return fmt.Errorf("invalid TLS port %d", t.Port)
		}
		if t.Protocol == "" {
			t.Protocol = "-all +TLSv1.3"
		}
		if strings.ContainsAny(t.CertFile+t.KeyFile+t.Protocol+t.Curves, "\"\n") {
			return fmt.Errorf("TLS settings must not contain quotes or newlines")
		}
	}
	return nil
}

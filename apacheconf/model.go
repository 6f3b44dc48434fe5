package apacheconf

import (
	"time"
)

// server is one httpd server: the main server, or a <VirtualHost>, with
// what the adapter translates of it.
type server struct {
	vhost *directive // nil for the main server
	ports []string   // the ports of the <VirtualHost> addresses
	names []string   // ServerName, then ServerAliases
	// TLS
	sslEngine    bool
	certFile     string
	keyFile      string
	certAt       *directive
	verifyClient string
	verifyAt     *directive
	caFile       string
	// proxying, in httpd's order
	locRules     []*rule // ProxyPass inside <Location>, in configuration order
	rules        []*rule // ProxyPass and ProxyPassMatch at server level
	reverses     []*reverse
	cookiePaths  []*reverse
	cookieDomain []*reverse
	jkMounts     []*rule
	jkMountCopy  bool
	docRoot      string
	ioBufferSize int
	proxyTimeout time.Duration
	balancers    map[string]*balancerDef
}

// rule is one ProxyPass, ProxyPassMatch, JkMount or JkUnMount.
type rule struct {
	at      *directive
	path    string // ProxyPass / <Location> prefix, or a JkMount pattern
	regexp  string // ProxyPassMatch
	exclude bool   // ProxyPass … !, JkUnMount
	jk      bool
	target  string            // balancer://NAME/path, ajp://host:port/path, or a mod_jk worker
	params  map[string]string // key=value after the target
}

// reverse is one ProxyPassReverse (or …CookiePath/…CookieDomain): from is
// the client's side, to the backend's.
type reverse struct {
	at       *directive
	from, to string
}

// balancerDef is a <Proxy balancer://NAME> with its members, or a mod_jk
// lb worker.
type balancerDef struct {
	name    string
	at      *directive
	members []*memberDef
	params  map[string]string // ProxySet and ProxyPass parameters of the balancer
	paramAt map[string]*directive
	jk      bool
}

// memberDef is one BalancerMember, or one ajp13 worker of an lb worker.
type memberDef struct {
	at     *directive
	addr   string // host:port
	path   string // the URL's path, without trailing slash
	params map[string]string
}

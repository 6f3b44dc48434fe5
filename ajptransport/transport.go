// Package ajptransport implements http.reverse_proxy.transport.ajp, an
// AJP/1.3 client that lets Caddy's reverse_proxy talk to Tomcat's AJP
// connector the way Apache httpd's mod_proxy_ajp does.
package ajptransport

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/ajp"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// Transport speaks AJP/1.3 to the upstreams of a reverse_proxy. Tomcat's
// AJP connector (`<Connector protocol="AJP/1.3" … secret="…"/>`) is the peer.
type Transport struct {
	// The shared secret of Tomcat's AJP connector (its `secret` attribute),
	// sent with every request. Placeholders such as `{env.AJP_SECRET}` are
	// replaced once at provisioning. Required unless InsecureNoSecret is set.
	// Never logged.
	Secret string `json:"secret,omitempty"`

	// Allows running without a secret, for connectors configured with
	// `secretRequired="false"`. Anyone who can reach such a connector can
	// forge any request to Tomcat; keep it bound to a trusted network.
	InsecureNoSecret bool `json:"insecure_no_secret,omitempty"`

	// The AJP packet size in bytes; must equal the connector's
	// `packetSize`. Between 8192 and 65536. Request headers must fit in one
	// packet. Default: `8192`.
	PacketSize int `json:"packet_size,omitempty"`

	// How long to wait for a connection to a backend to be established and
	// answer CPING, and for a free connection when MaxConnsPerHost are busy.
	// A failure is a dial error, so `lb_retries` can try another upstream.
	// Default: `5s`.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// The longest wait for the next packet from the backend (or for the
	// backend to take the next one from us) during an exchange. A timeout
	// answers 504. Default: `5m`.
	ReadTimeout caddy.Duration `json:"read_timeout,omitempty"`

	// How long an unused keep-alive connection stays open. Default: `1m`.
	IdleTimeout caddy.Duration `json:"idle_timeout,omitempty"`

	// How long to wait for CPONG after a CPING. Default: `2s`.
	PingTimeout caddy.Duration `json:"ping_timeout,omitempty"`

	// A connection idle for longer than this is checked with CPING/CPONG
	// before it carries a request; new connections are always checked.
	// Default: `10s`.
	PingAfter caddy.Duration `json:"ping_after,omitempty"`

	// The most connections to one backend, busy or idle; 0 means no limit.
	// A request that finds all of them busy waits up to DialTimeout.
	// Default: `0`.
	MaxConnsPerHost int `json:"max_conns_per_host,omitempty"`

	// Extra AJP request attributes (req_attribute) sent with every request.
	// Values may hold placeholders, replaced per request. Tomcat refuses
	// names it does not know with 403 unless the connector's
	// `allowedRequestAttributesPattern` matches them. Names of the servlet
	// include/forward/error/async attributes are refused (Ghostcat,
	// CVE-2020-1938).
	RequestAttributes []RequestAttribute `json:"request_attributes,omitempty"`

	secret string
	cfg    poolConfig
	logger *zap.Logger
	*state
}

// state is what a provisioned transport owns; kept behind a pointer so the
// config struct stays copyable.
type state struct {
	poolsMu   sync.RWMutex
	pools     map[poolKey]*hostPool
	bufPool   sync.Pool
	closed    atomic.Bool
	stopJan   chan struct{}
	janDone   chan struct{}
	cleanOnce sync.Once
	locals    localAddrs // Caddy's listener addresses, formatted once
	tlsConns  tlsConns   // the TLS facts of client connections, worked out once
}

// RequestAttribute is one configured AJP request attribute.
type RequestAttribute struct {
	// The attribute name as the servlet reads it with getAttribute.
	Name string `json:"name"`
	// The value; placeholders are replaced per request.
	Value string `json:"value"`
}

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.ajp",
		New: func() caddy.Module { return new(Transport) },
	}
}

// Packet sizes Tomcat's AJP connector accepts (packet_size).
const (
	DefaultPacketSize = ajp.DefaultPacketSize
	MinPacketSize     = ajp.MinPacketSize
	MaxPacketSize     = ajp.MaxPacketSize
)

// Defaults of the transport's options.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultReadTimeout = 5 * time.Minute
	DefaultIdleTimeout = time.Minute
	DefaultPingTimeout = 2 * time.Second
	DefaultPingAfter   = 10 * time.Second
)

// Provision sets defaults, resolves the secret and validates the config.
func (t *Transport) Provision(ctx caddy.Context) error {
	t.logger = ctx.Logger()
	if err := t.CheckConfig(); err != nil {
		return err
	}
	if t.PacketSize == 0 {
		t.PacketSize = DefaultPacketSize
	}
	for _, d := range t.durationOptions() {
		if *d.v == 0 {
			*d.v = caddy.Duration(d.def)
		}
	}
	t.secret = caddy.NewReplacer().ReplaceKnown(t.Secret, "")
	if t.Secret != "" && t.secret == "" {
		return fmt.Errorf("the AJP secret is empty after replacing placeholders in it (is the environment variable set?)")
	}

	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	t.cfg = poolConfig{
		packetSize:  t.PacketSize,
		dialTimeout: time.Duration(t.DialTimeout),
		pingTimeout: time.Duration(t.PingTimeout),
		pingAfter:   time.Duration(t.PingAfter),
		idleTimeout: time.Duration(t.IdleTimeout),
		maxConns:    t.MaxConnsPerHost,
		readTimeout: time.Duration(t.ReadTimeout),
		dial:        countingDial(dialer.DialContext),
	}
	t.state = &state{pools: make(map[poolKey]*hostPool)}
	size := 2 * t.PacketSize // room for FORWARD_REQUEST and the first body packet
	t.bufPool.New = func() any { b := make([]byte, 0, size); return &b }
	t.stopJan = make(chan struct{})
	t.janDone = make(chan struct{})
	go t.janitor()
	register(t)
	registerMetrics(ctx.GetMetricsRegistry())
	return nil
}

// Cleanup closes the connection pools. Requests still in flight finish on
// their connections, which are then closed instead of pooled. Safe to call on
// a half-provisioned transport.
func (t *Transport) Cleanup() error {
	if t.state == nil {
		return nil
	}
	t.cleanOnce.Do(func() {
		unregister(t)
		t.closed.Store(true)
		if t.stopJan != nil {
			close(t.stopJan)
			<-t.janDone
		}
		t.poolsMu.Lock()
		defer t.poolsMu.Unlock()
		for _, p := range t.pools {
			p.closeIdle(true, true)
		}
	})
	return nil
}

// RoundTrip sends r to its AJP backend and returns the response, whose body
// streams from the backend as it arrives. The request's path, top to
// bottom: prepare (request.go) refuses what must not reach Tomcat and
// encodes the rest; the pool (pool.go) hands out a connection (conn.go);
// the exchange (exchange.go, body.go) talks; errors.go decides what a
// failure becomes.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == MethodCPing {
		return t.probe(r) // an active health check (health.go)
	}
	ex, refusal, err := t.prepare(r)
	if ex == nil {
		return refusal, err
	}
	pool := t.pool(ex.network, ex.addr)
	for attempt := 0; ; attempt++ {
		c, reused, err := pool.get(r.Context(), ex.body == nil && idempotent(r.Method))
		if err != nil {
			ex.release()
			return t.dialFailed(r, ex.addr, err)
		}
		resp, err := ex.run(c, r)
		if err == nil {
			return resp, nil
		}
		ex.discard()
		// A pooled connection the container closed while idle fails before
		// anything came back; an idempotent request without a body is
		// safe to send again on a new connection.
		if reused && attempt == 0 && !ex.gotPacket && ex.body == nil && idempotent(r.Method) && isConnReset(err) {
			t.logger.Debug("pooled AJP connection was closed by the backend; retrying on a new one", zap.String("upstream", ex.addr))
			continue
		}
		ex.release()
		return t.failed(r, ex.addr, err)
	}
}

// Interface guards
var (
	_ caddy.Provisioner  = (*Transport)(nil)
	_ caddy.CleanerUpper = (*Transport)(nil)
	_ http.RoundTripper  = (*Transport)(nil)
)

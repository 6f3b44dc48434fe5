package ajptransport

import (
	"context"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

// MethodCPing is the health_method that makes Caddy's active health check
// an AJP CPING/CPONG exchange instead of a request to the application:
//
//	reverse_proxy … {
//		health_uri /          # any: it only turns the checker on
//		health_method CPING
//		health_interval 1s
//		transport ajp { … }
//	}
//
// Caddy's checker sends its probe through the handler's own transport, so
// it reaches RoundTrip with this method.
const MethodCPing = "CPING"

// probe answers an active health check: a new connection to the upstream
// (never one from the pool, and outside max_conns_per_host, so a full pool
// cannot fail it), CPING, and CPONG within ping_timeout. Tomcat binds its
// AJP port long before its connector serves, so a port that accepts is not
// enough: the CPONG is. A node that sent packets on other connections
// while the CPONG was late is busy, not hung, and passes. A failed probe
// also closes the node's idle connections: they would hang too.
func (t *Transport) probe(r *http.Request) (*http.Response, error) {
	network, addr := dialTarget(r)
	p := t.pool(network, addr)
	if err := p.probe(r.Context()); err != nil {
		p.closeIdle(true, false)
		t.logger.Debug("AJP node failed its CPING health check", zap.String("upstream", addr), zap.Error(err))
		return nil, fmt.Errorf("CPING health check of %s: %w", addr, err)
	}
	return &http.Response{
		Status:        statusLine(http.StatusOK),
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{},
		ContentLength: 0,
		Body:          http.NoBody,
		Request:       r,
	}, nil
}

// probe dials the node and exchanges CPING/CPONG on that connection, then
// closes it.
func (p *hostPool) probe(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(ctx, p.cfg.dialTimeout)
	defer cancel()
	nc, err := p.cfg.dial(dctx, p.network, p.addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(aLongTimeAgo) })
	defer stop()
	c := newConn(nc, p)
	start, err := c.sendCPing(p.cfg.pingTimeout)
	if err != nil {
		return err
	}
	err = c.readCPong(start)
	switch {
	case err == nil:
		return nil
	case isTimeout(err) && ctx.Err() == nil && p.spokeSince(start.UnixNano()):
		return nil // busy: it answered others while our CPONG was queued
	case isTimeout(err):
		p.st.cping(0, err)
	}
	return cpingFailed(p.addr, err)
}

// dialTarget is where r goes: reverse_proxy's dial info, or the URL's host.
func dialTarget(r *http.Request) (network, addr string) {
	network, addr = "tcp", r.URL.Host
	if di, ok := reverseproxy.GetDialInfo(r.Context()); ok {
		network, addr = di.Network, di.Address
	}
	return network, addr
}

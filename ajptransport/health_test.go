package ajptransport

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// probeReq is the request Caddy's active health checker sends with
// health_method CPING.
func probeReq(addr string) *http.Request {
	return httptest.NewRequest(MethodCPing, "http://"+addr+"/", nil)
}

// slowNode is a fake container whose CPONG on a new connection comes after
// cpongDelay (a connector that accepts but has no thread for it yet);
// requests for /stream get a body chunk every 20 ms for a second, the
// traffic of a busy node.
func slowNode(t *testing.T, cpongDelay time.Duration) *fakeContainer {
	return newFakeContainer(t, func(c *fakeConn) {
		p, err := c.readPacket()
		if err != nil {
			return
		}
		if len(p) == 1 && p[0] == 10 { // CPING
			time.Sleep(cpongDelay)
			c.write([]byte{9})
		}
		for {
			pr, err := c.next()
			if err != nil {
				return
			}
			c.sendHeaders(200)
			if pr.URI == "/stream" {
				for range 50 {
					c.sendBody("tick")
					c.sendBody("") // the servlet flushes: Tomcat's empty chunk
					time.Sleep(20 * time.Millisecond)
				}
			} else {
				c.sendBody("ok")
			}
			c.end(true)
		}
	})
}

// keepStreaming keeps a /stream response flowing from fc until it ends.
func keepStreaming(t *testing.T, tr *Transport, addr string) <-chan struct{} {
	done := make(chan struct{})
	started := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := get(t, tr, addr, "/stream")
		if err != nil {
			close(started)
			return
		}
		var b [4]byte
		_, _ = io.ReadFull(resp.Body, b[:]) // the first tick: flowing
		close(started)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	<-started
	return done
}

func TestCPingProbeAnswers200(t *testing.T) {
	fc := newFakeContainer(t, serveOK)
	tr := newTransport(t, nil)
	resp, err := tr.RoundTrip(probeReq(fc.addr()))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("probe of a healthy node: %v %v", resp, err)
	}
	if fc.acceptedConns() != 1 {
		t.Errorf("probe used %d connections", fc.acceptedConns())
	}
	// the probe's connection is not kept: it tests the acceptor every time
	if n := OpenConnections(); n != 0 {
		t.Errorf("%d AJP connections open after a probe", n)
	}
}

// TestCPingProbeFailsOnASilentNodeAndDropsItsIdleConnections: a node that
// accepts and does not answer (hung, or still starting) fails within
// ping_timeout, and the connections idle to it are not reused.
func TestCPingProbeFailsOnASilentNodeAndDropsItsIdleConnections(t *testing.T) {
	var hung atomic.Bool
	fc := newFakeContainer(t, func(c *fakeConn) {
		if hung.Load() {
			_, _ = io.Copy(io.Discard, c.nc)
			return
		}
		serveOK(c)
	})
	tr := newTransport(t, func(tr *Transport) { tr.PingTimeout = caddy.Duration(150 * time.Millisecond) })
	if got := fetch(t, tr, fc.addr(), "/"); got != "ok" {
		t.Fatalf("body %q", got)
	}
	if n := pooled(tr, fc.addr()); n != 1 {
		t.Fatalf("%d idle connections, want 1", n)
	}
	hung.Store(true)
	start := time.Now()
	_, err := tr.RoundTrip(probeReq(fc.addr()))
	if err == nil || !strings.Contains(err.Error(), "did not answer CPING within ping_timeout") {
		t.Fatalf("probe of a silent node: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("probe took %v with ping_timeout 150ms", d)
	}
	if n := pooled(tr, fc.addr()); n != 0 {
		t.Errorf("%d idle connections kept to a node that failed its probe", n)
	}
}

// TestCPingProbeTellsBusyFromHung: the same late CPONG passes while the
// node answers others (busy), and fails when it does not (hung).
func TestCPingProbeTellsBusyFromHung(t *testing.T) {
	fc := slowNode(t, 400*time.Millisecond)
	// the stream's own connection gets its CPONG in time
	tr := newTransport(t, func(tr *Transport) { tr.PingTimeout = caddy.Duration(time.Second) })
	done := keepStreaming(t, tr, fc.addr())
	tr.cfg.pingTimeout = 150 * time.Millisecond
	if resp, err := tr.RoundTrip(probeReq(fc.addr())); err != nil || resp.StatusCode != 200 {
		t.Errorf("a busy node (packets flowing on another connection) failed the probe: %v", err)
	}
	<-done
	if _, err := tr.RoundTrip(probeReq(fc.addr())); err == nil {
		t.Error("a late CPONG with nothing else flowing passed the probe")
	}
}

// TestABusyNodesLateCPongFailsNoRequest: a new connection's CPONG later
// than ping_timeout is waited for while the node keeps answering others.
func TestABusyNodesLateCPongFailsNoRequest(t *testing.T) {
	fc := slowNode(t, 400*time.Millisecond)
	tr := newTransport(t, func(tr *Transport) { tr.PingTimeout = caddy.Duration(time.Second) })
	done := keepStreaming(t, tr, fc.addr())
	tr.cfg.pingTimeout = 150 * time.Millisecond
	if got := fetch(t, tr, fc.addr(), "/"); got != "ok" {
		t.Fatalf("body %q", got)
	}
	<-done
	// with nothing flowing, the same late CPONG is a failed connection
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, "GET", "http://"+fc.addr()+"/", nil)
	tr.Cleanup() // no idle connection left to reuse
	tr2 := newTransport(t, func(tr *Transport) { tr.PingTimeout = caddy.Duration(150 * time.Millisecond) })
	if _, err := tr2.RoundTrip(req); err == nil {
		t.Fatal("a silent node's late CPONG passed")
	}
}

// TestCPingProbeIgnoresAFullPool: max_conns_per_host busy must not fail the
// health check (the node is fine; this front end is at its limit).
func TestCPingProbeIgnoresAFullPool(t *testing.T) {
	gate := make(chan struct{})
	fc := newFakeContainer(t, func(c *fakeConn) {
		pr, err := c.next()
		if err != nil {
			return
		}
		if pr.URI == "/hold" {
			<-gate
		}
		c.sendHeaders(200)
		c.end(true)
	})
	defer close(gate)
	tr := newTransport(t, func(tr *Transport) { tr.MaxConnsPerHost = 1 })
	go func() {
		if resp, err := get(t, tr, fc.addr(), "/hold"); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	if resp, err := tr.RoundTrip(probeReq(fc.addr())); err != nil || resp.StatusCode != 200 {
		t.Fatalf("probe with the pool full: %v", err)
	}
}

// pooled counts the connections, busy or idle, tr's pool holds to addr.
func pooled(tr *Transport, addr string) int {
	p := tr.pool("tcp", addr)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

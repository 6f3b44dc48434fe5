package ajptransport

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/internal/ajpspec"
	"go.uber.org/zap"
)

// cannedResponse is SEND_HEADERS (Content-Type, Content-Length), a 13-byte
// body chunk and END_RESPONSE with reuse.
func cannedResponse() []byte {
	return stream(
		pktHeaders(200, codedHdr(0xA001, "text/plain;charset=UTF-8"), codedHdr(0xA003, "13")),
		pktBody("Hello, world!"),
		pktEnd1)
}

func BenchmarkRoundTrip(b *testing.B) {
	fc := newFakeContainer(b, func(c *fakeConn) { c.serveCanned(cannedResponse()) })
	tr := newTransport(b, func(tr *Transport) {
		*tr = Transport{InsecureNoSecret: true}
	})
	tr.logger = zap.NewNop()

	req, err := http.NewRequest(http.MethodGet, "http://"+fc.addr()+"/shop/catalog/item.jsp?id=4711", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.RemoteAddr = "198.51.100.23:53122"
	for _, h := range ajpspec.BrowserHeaders() {
		if h[0] != "Host" {
			req.Header.Add(h[0], h[1])
		}
	}
	roundTrip := func() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || n != 13 {
			b.Fatalf("body: %d bytes, %v", n, err)
		}
		resp.Body.Close()
	}
	roundTrip() // dial and CPING outside the measurement
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
	b.StopTimer()
	if n := fc.acceptedConns(); n != 1 {
		b.Fatalf("%d connections for %d requests: keep-alive reuse failed", n, b.N+1)
	}
}

func BenchmarkPoolGetPut(b *testing.B) {
	fc := newFakeContainer(b, func(c *fakeConn) { c.serveCanned(nil) })
	cfg := &poolConfig{
		packetSize:  DefaultPacketSize,
		dialTimeout: 5 * time.Second,
		pingTimeout: 2 * time.Second,
		pingAfter:   time.Hour, // no CPING on checkout: measure the pool, not the network
		idleTimeout: time.Hour,
		dial:        (&net.Dialer{}).DialContext,
	}
	p := &hostPool{cfg: cfg, network: "tcp", addr: fc.addr()}
	defer p.closeIdle(true, true)
	ctx := context.Background()
	c, _, err := p.get(ctx, false)
	if err != nil {
		b.Fatal(err)
	}
	p.put(c)
	b.ReportAllocs()
	for b.Loop() {
		c, reused, err := p.get(ctx, false)
		if err != nil || !reused {
			b.Fatalf("get: reused=%v err=%v", reused, err)
		}
		p.put(c)
	}
}

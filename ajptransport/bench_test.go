package ajptransport

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
)

// browserGET is what a browser's page request looks like once
// buildForwardRequest has filled it in: ten headers, cookies, a query.
func browserGET() *ForwardRequest {
	return &ForwardRequest{
		Method:     "GET",
		Protocol:   "HTTP/1.1",
		RequestURI: "/shop/catalog/item.jsp",
		RemoteAddr: "198.51.100.23",
		ServerName: "shop.example.com",
		ServerPort: 443,
		IsSSL:      true,
		Headers: []Header{
			{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"},
			{"Accept-Encoding", "gzip, deflate, br, zstd"},
			{"Accept-Language", "en-US,en;q=0.9,de;q=0.8"},
			{"Cache-Control", "max-age=0"},
			{"Cookie", "JSESSIONID=8A2F0C6F1E4B4F0D9C5E7A1B2C3D4E5F.node1; theme=dark; consent=yes; _ga=GA1.2.123456789.1700000000"},
			{"Referer", "https://shop.example.com/shop/catalog/"},
			{"Sec-Fetch-Dest", "document"},
			{"Sec-Fetch-Mode", "navigate"},
			{"Upgrade-Insecure-Requests", "1"},
			{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"},
			{"Host", "shop.example.com"},
		},
		QueryString:   "id=4711&color=blue&size=m",
		HasQuery:      true,
		SSLCipher:     "TLS_AES_128_GCM_SHA256",
		SSLKeySize:    128,
		Secret:        "0123456789abcdef0123456789abcdef",
		ReqAttributes: []Attribute{{"AJP_REMOTE_PORT", "53122"}, {"AJP_LOCAL_ADDR", "10.0.0.2"}, {"AJP_SSL_PROTOCOL", "TLSv1.3"}},
	}
}

func BenchmarkAppendForwardRequest(b *testing.B) {
	fr := browserGET()
	buf := make([]byte, 0, DefaultPacketSize)
	out, err := AppendForwardRequest(buf, fr, DefaultPacketSize)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(out)))
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = AppendForwardRequest(buf[:0], fr, DefaultPacketSize); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAppendForwardRequestDoesNotAllocate(t *testing.T) {
	fr := browserGET()
	buf := make([]byte, 0, DefaultPacketSize)
	allocs := testing.AllocsPerRun(100, func() {
		buf, _ = AppendForwardRequest(buf[:0], fr, DefaultPacketSize)
	})
	if allocs != 0 {
		t.Fatalf("AppendForwardRequest allocates %.1f times per request with room in dst", allocs)
	}
}

// typicalSendHeaders is a servlet's page response as Tomcat sends it.
func typicalSendHeaders() []byte {
	return sendHeaders(200, ajpStr("200"), 7,
		codedHdr(0xA001, "text/html;charset=UTF-8"),
		codedHdr(0xA003, "5120"),
		codedHdr(0xA007, "JSESSIONID=8A2F0C6F1E4B4F0D9C5E7A1B2C3D4E5F.node1; Path=/shop; Secure; HttpOnly"),
		codedHdr(0xA004, "Mon, 25 Nov 2024 10:00:00 GMT"),
		hdr("Cache-Control", "no-cache"),
		hdr("X-Frame-Options", "SAMEORIGIN"),
		hdr("X-Request-Id", "f3b2c1d0-1234-4cde-9abc-0123456789ab"),
	)
}

func BenchmarkParseSendHeaders(b *testing.B) {
	p := typicalSendHeaders()
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for b.Loop() {
		var head ResponseHead // as exchange.response does: a fresh head per response
		if err := ParseSendHeaders(p, &head); err != nil {
			b.Fatal(err)
		}
	}
}

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
	for _, h := range browserGET().Headers {
		if h.Name != "Host" {
			req.Header.Add(h.Name, h.Value)
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
	defer p.closeIdle(true)
	ctx := context.Background()
	c, _, err := p.get(ctx)
	if err != nil {
		b.Fatal(err)
	}
	p.put(c)
	b.ReportAllocs()
	for b.Loop() {
		c, reused, err := p.get(ctx)
		if err != nil || !reused {
			b.Fatalf("get: reused=%v err=%v", reused, err)
		}
		p.put(c)
	}
}

package ajp

import (
	"testing"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/internal/ajpspec"
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
		Headers: func() (hs []Header) {
			for _, h := range ajpspec.BrowserHeaders() {
				hs = append(hs, Header{Name: h[0], Value: h[1]})
			}
			return hs
		}(),
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

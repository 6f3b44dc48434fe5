package ajp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// The expected byte layouts in this file are written from the AJPv13
// reference (tomcat.apache.org/connectors-doc/ajp/ajpv13a.html), not from
// the encoder, so they check the codec against the spec.

// encodeOK encodes fr with the default packet size and fails the test on error.
func encodeOK(t *testing.T, fr *ForwardRequest) []byte {
	t.Helper()
	b, err := AppendForwardRequest(nil, fr, DefaultPacketSize)
	if err != nil {
		t.Fatalf("AppendForwardRequest: %v", err)
	}
	checkPacketFraming(t, b)
	return b
}

// checkPacketFraming checks the 12 34 prefix and that the length field
// covers exactly the rest of the packet.
func checkPacketFraming(t testing.TB, b []byte) {
	t.Helper()
	if len(b) < 4 || b[0] != 0x12 || b[1] != 0x34 {
		t.Fatalf("packet does not start with 12 34: % x", b[:min(len(b), 8)])
	}
	if n := int(binary.BigEndian.Uint16(b[2:])); n != len(b)-4 {
		t.Fatalf("length field says %d, payload has %d bytes", n, len(b)-4)
	}
}

// minimalRequest is a GET with nothing optional, whose encoding is
// fixedHead + num_headers + headers + attributes + 0xFF.
func minimalRequest() *ForwardRequest {
	return &ForwardRequest{
		Method: "GET", Protocol: "HTTP/1.1", RequestURI: "/",
		RemoteAddr: "127.0.0.1", ServerName: "localhost", ServerPort: 8080,
	}
}

// minimalHead is the payload of minimalRequest up to and including is_ssl.
var minimalHead = wire(
	0x02, // FORWARD_REQUEST
	0x02, // GET
	ajpStr("HTTP/1.1"),
	ajpStr("/"),
	ajpStr("127.0.0.1"),
	0xFF, 0xFF, // remote_host: null string
	ajpStr("localhost"),
	0x1F, 0x90, // 8080
	0x00, // is_ssl false
)

func TestForwardRequestMatchesSpecLayout(t *testing.T) {
	fr := &ForwardRequest{
		Method:      "GET",
		Protocol:    "HTTP/1.1",
		RequestURI:  "/index.jsp",
		RemoteAddr:  "10.0.0.1",
		RemoteHost:  "", // → null string
		ServerName:  "www.example.com",
		ServerPort:  80,
		IsSSL:       false,
		Headers:     []Header{{"Host", "www.example.com"}, {"User-Agent", "curl/8.5"}, {"Accept", "*/*"}, {"X-Trace", "abc"}},
		QueryString: "a=1",
		HasQuery:    true,
		Secret:      "s3cr3t",
	}
	payload := wire(
		0x02,                         // prefix_code FORWARD_REQUEST
		0x02,                         // method GET
		0x00, 0x08, "HTTP/1.1", 0x00, // protocol
		0x00, 0x0A, "/index.jsp", 0x00, // req_uri
		0x00, 0x08, "10.0.0.1", 0x00, // remote_addr
		0xFF, 0xFF, // remote_host: null string, no bytes, no NUL
		0x00, 0x0F, "www.example.com", 0x00, // server_name
		0x00, 0x50, // server_port 80
		0x00,       // is_ssl false
		0x00, 0x04, // num_headers
		0xA0, 0x0B, 0x00, 0x0F, "www.example.com", 0x00, // host
		0xA0, 0x0E, 0x00, 0x08, "curl/8.5", 0x00, // user-agent
		0xA0, 0x01, 0x00, 0x03, "*/*", 0x00, // accept
		0x00, 0x07, "X-Trace", 0x00, 0x00, 0x03, "abc", 0x00, // string header
		0x05, 0x00, 0x03, "a=1", 0x00, // query_string attribute
		0x0C, 0x00, 0x06, "s3cr3t", 0x00, // secret attribute
		0xFF, // request_terminator
	)
	if len(payload) != 0x89 {
		t.Fatalf("hand-built payload is %d bytes; fix the test's length", len(payload))
	}
	want := wire(0x12, 0x34, 0x00, 0x89, payload)

	got, err := AppendForwardRequest(nil, fr, DefaultPacketSize)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("FORWARD_REQUEST differs from the spec layout\n got % x\nwant % x", got, want)
	}
}

func TestForwardRequestAppendsToDst(t *testing.T) {
	dst := []byte("keep")
	got, err := AppendForwardRequest(dst, minimalRequest(), DefaultPacketSize)
	if err != nil {
		t.Fatal(err)
	}
	if string(got[:4]) != "keep" {
		t.Fatalf("dst prefix clobbered: %q", got[:4])
	}
	checkPacketFraming(t, got[4:])
	want := toServerPacket(wire(minimalHead, 0x00, 0x00, 0xFF))
	if !bytes.Equal(got[4:], want) {
		t.Fatalf("got % x\nwant % x", got[4:], want)
	}
}

func TestForwardRequestEncodesMethodCodes(t *testing.T) {
	methods := []string{
		"OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "PROPFIND", "PROPPATCH", "MKCOL",
		"COPY", "MOVE", "LOCK", "UNLOCK", "ACL", "REPORT", "VERSION-CONTROL", "CHECKIN", "CHECKOUT",
		"UNCHECKOUT", "SEARCH", "MKWORKSPACE", "UPDATE", "LABEL", "MERGE", "BASELINE-CONTROL", "MKACTIVITY",
	}
	if len(methods) != 27 {
		t.Fatalf("the spec has 27 method codes, the table %d", len(methods))
	}
	for i, m := range methods {
		t.Run(m, func(t *testing.T) {
			fr := minimalRequest()
			fr.Method = m
			got := encodeOK(t, fr)
			if code := got[5]; int(code) != i+1 {
				t.Fatalf("method %s encoded as %d, want %d", m, code, i+1)
			}
			// A coded method carries no stored_method attribute: the
			// message ends num_headers=0, 0xFF.
			if tail := got[len(got)-3:]; !bytes.Equal(tail, []byte{0, 0, 0xFF}) {
				t.Fatalf("unexpected attributes after a coded method: % x", tail)
			}
		})
	}
}

func TestForwardRequestEncodesStoredMethod(t *testing.T) {
	// Methods are case-sensitive (RFC 9110 9.1): "get" is not GET.
	for _, m := range []string{"PATCH", "BREW", "get", "Post", "M-SEARCH"} {
		t.Run(m, func(t *testing.T) {
			fr := minimalRequest()
			fr.Method = m
			got := encodeOK(t, fr)
			want := toServerPacket(wire(
				0x02, 0xFF, minimalHead[2:], // method 0xFF, rest of the head unchanged
				0x00, 0x00, // no headers
				0x0D, ajpStr(m), // stored_method
				0xFF,
			))
			if !bytes.Equal(got, want) {
				t.Fatalf("got % x\nwant % x", got, want)
			}
			pr, err := parseForwardRequest(got[4:])
			if err != nil {
				t.Fatal(err)
			}
			if pr.Method != m {
				t.Fatalf("container sees method %q, want %q", pr.Method, m)
			}
		})
	}
}

func TestForwardRequestCodesRequestHeaders(t *testing.T) {
	coded := []string{
		"accept", "accept-charset", "accept-encoding", "accept-language",
		"authorization", "connection", "content-type", "content-length",
		"cookie", "cookie2", "host", "pragma", "referer", "user-agent",
	}
	for i, lower := range coded {
		code := 0xA001 + i
		for _, name := range []string{lower, http.CanonicalHeaderKey(lower), strings.ToUpper(lower), mixCase(lower)} {
			t.Run(name, func(t *testing.T) {
				fr := minimalRequest()
				fr.Headers = []Header{{name, "v"}}
				got := encodeOK(t, fr)
				want := toServerPacket(wire(minimalHead, 0x00, 0x01, ajpInt(code), ajpStr("v"), 0xFF))
				if !bytes.Equal(got, want) {
					t.Fatalf("header %q: got % x\nwant % x", name, got, want)
				}
			})
		}
	}
	// Near misses and uncoded headers go as strings, name unchanged.
	for _, name := range []string{"X-Forwarded-For", "Accept-Ranges", "Hosts", "Cookie3", "Content-Lengthx",
		"Referrer", "If-None-Match", "Acceptable", "Pragm", "userAgent", "User_Agent"} {
		t.Run(name, func(t *testing.T) {
			fr := minimalRequest()
			fr.Headers = []Header{{name, "v"}}
			got := encodeOK(t, fr)
			want := toServerPacket(wire(minimalHead, 0x00, 0x01, ajpStr(name), ajpStr("v"), 0xFF))
			if !bytes.Equal(got, want) {
				t.Fatalf("header %q: got % x\nwant % x", name, got, want)
			}
		})
	}
}

// mixCase alternates the case of letters: "accept" → "AcCePt".
func mixCase(s string) string {
	b := []byte(s)
	for i := range b {
		if i%2 == 0 && 'a' <= b[i] && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

func TestForwardRequestKeepsHeaderOrderAndDuplicates(t *testing.T) {
	fr := minimalRequest()
	fr.Headers = []Header{{"X-Dup", "one"}, {"Cookie", "a=1"}, {"X-Dup", "two"}, {"Cookie", "b=2"}}
	got := encodeOK(t, fr)
	want := toServerPacket(wire(minimalHead, 0x00, 0x04,
		ajpStr("X-Dup"), ajpStr("one"),
		0xA0, 0x09, ajpStr("a=1"),
		ajpStr("X-Dup"), ajpStr("two"),
		0xA0, 0x09, ajpStr("b=2"),
		0xFF))
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
}

func TestForwardRequestEncodesRemoteHostAsNullWhenEmpty(t *testing.T) {
	fr := minimalRequest()
	fr.RemoteAddr = "" // an empty non-nullable string is 00 00 00, not null
	fr.RemoteHost = ""
	got := encodeOK(t, fr)
	// 4 packet header, type, method, protocol (2+8+1), uri (2+1+1)
	off := 4 + 2 + 11 + 4
	if !bytes.Equal(got[off:off+5], []byte{0, 0, 0, 0xFF, 0xFF}) {
		t.Fatalf("remote_addr/remote_host: got % x, want 00 00 00 ff ff", got[off:off+5])
	}

	fr.RemoteHost = "client.example"
	got = encodeOK(t, fr)
	if want := wire(0, 0, 0, ajpStr("client.example")); !bytes.Equal(got[off:off+len(want)], want) {
		t.Fatalf("remote_host: got % x, want % x", got[off:off+len(want)], want)
	}
}

func TestForwardRequestEncodesServerPortAndSSL(t *testing.T) {
	fr := minimalRequest()
	fr.ServerPort = 443
	fr.IsSSL = true
	got := encodeOK(t, fr)
	want := toServerPacket(wire(minimalHead[:len(minimalHead)-3], 0x01, 0xBB, 0x01, 0x00, 0x00, 0xFF))
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
}

func TestForwardRequestEncodesAttributes(t *testing.T) {
	tests := []struct {
		name  string
		set   func(*ForwardRequest)
		attrs []byte // expected bytes between num_headers=0 and 0xFF
	}{
		{"none", func(*ForwardRequest) {}, nil},
		{"remote_user", func(fr *ForwardRequest) { fr.RemoteUser = "alice" }, wire(0x03, ajpStr("alice"))},
		{"auth_type", func(fr *ForwardRequest) { fr.AuthType = "Basic" }, wire(0x04, ajpStr("Basic"))},
		{"query_string", func(fr *ForwardRequest) { fr.QueryString = "a=1&b=2"; fr.HasQuery = true }, wire(0x05, ajpStr("a=1&b=2"))},
		{"query_string without HasQuery", func(fr *ForwardRequest) { fr.QueryString = "x" }, wire(0x05, ajpStr("x"))},
		{"empty query_string for a bare ?", func(fr *ForwardRequest) { fr.HasQuery = true }, wire(0x05, 0x00, 0x00, 0x00)},
		{"no query", func(fr *ForwardRequest) { fr.HasQuery = false }, nil},
		{"jvm_route", func(fr *ForwardRequest) { fr.JvmRoute = "node1" }, wire(0x06, ajpStr("node1"))},
		{"ssl_cert", func(fr *ForwardRequest) { fr.SSLCert = "-----BEGIN CERTIFICATE-----\n" }, wire(0x07, ajpStr("-----BEGIN CERTIFICATE-----\n"))},
		{"ssl_cipher", func(fr *ForwardRequest) { fr.SSLCipher = "TLS_AES_128_GCM_SHA256" }, wire(0x08, ajpStr("TLS_AES_128_GCM_SHA256"))},
		{"ssl_session", func(fr *ForwardRequest) { fr.SSLSession = "ABCDEF" }, wire(0x09, ajpStr("ABCDEF"))},
		{"ssl_key_size 128 as integer", func(fr *ForwardRequest) { fr.SSLKeySize = 128 }, wire(0x0B, 0x00, 0x80)},
		{"ssl_key_size 256 as integer", func(fr *ForwardRequest) { fr.SSLKeySize = 256 }, wire(0x0B, 0x01, 0x00)},
		{"ssl_key_size 0 omitted", func(fr *ForwardRequest) { fr.SSLKeySize = 0 }, nil},
		{"ssl_key_size negative omitted", func(fr *ForwardRequest) { fr.SSLKeySize = -1 }, nil},
		{"ssl_key_size clamped, not wrapped", func(fr *ForwardRequest) { fr.SSLKeySize = 70000 }, wire(0x0B, 0xFF, 0xFF)},
		{"secret", func(fr *ForwardRequest) { fr.Secret = "s3cr3t" }, wire(0x0C, ajpStr("s3cr3t"))},
		{"req_attribute", func(fr *ForwardRequest) {
			fr.ReqAttributes = []Attribute{{"AJP_REMOTE_PORT", "54321"}, {"AJP_LOCAL_ADDR", "10.0.0.2"}}
		}, wire(0x0A, ajpStr("AJP_REMOTE_PORT"), ajpStr("54321"), 0x0A, ajpStr("AJP_LOCAL_ADDR"), ajpStr("10.0.0.2"))},
		{"req_attribute with empty value", func(fr *ForwardRequest) {
			fr.ReqAttributes = []Attribute{{"JK_LB_ACTIVATION", ""}}
		}, wire(0x0A, ajpStr("JK_LB_ACTIVATION"), 0x00, 0x00, 0x00)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := minimalRequest()
			tt.set(fr)
			got := encodeOK(t, fr)
			want := toServerPacket(wire(minimalHead, 0x00, 0x00, tt.attrs, 0xFF))
			if !bytes.Equal(got, want) {
				t.Fatalf("got % x\nwant % x", got, want)
			}
		})
	}
}

func TestForwardRequestSSLKeySizeIsNotAString(t *testing.T) {
	fr := minimalRequest()
	fr.SSLKeySize = 256
	got := encodeOK(t, fr)
	pr, err := parseForwardRequest(got[4:])
	if err != nil {
		t.Fatal(err)
	}
	if pr.KeySize != 256 {
		t.Fatalf("container reads ssl_key_size %d, want 256", pr.KeySize)
	}
	if _, ok := pr.Attrs[attrSSLKeySize]; ok {
		t.Fatal("ssl_key_size decoded as a string attribute")
	}
}

func TestForwardRequestTooLargeLeavesDstUnchanged(t *testing.T) {
	big := strings.Repeat("x", DefaultPacketSize)
	tests := []struct {
		name string
		set  func(*ForwardRequest)
	}{
		{"one huge header", func(fr *ForwardRequest) { fr.Headers = []Header{{"X-Big", big}} }},
		{"huge cookie", func(fr *ForwardRequest) { fr.Headers = []Header{{"Cookie", big}} }},
		{"many small headers", func(fr *ForwardRequest) {
			for i := 0; i < 1000; i++ {
				fr.Headers = append(fr.Headers, Header{fmt.Sprintf("X-H%d", i), "0123456789"})
			}
		}},
		{"too many headers for num_headers", func(fr *ForwardRequest) { fr.Headers = make([]Header, 0x10000) }},
		{"huge URI", func(fr *ForwardRequest) { fr.RequestURI = "/" + big }},
		{"huge ssl_cert attribute", func(fr *ForwardRequest) { fr.SSLCert = big }},
		{"huge query", func(fr *ForwardRequest) { fr.QueryString = big; fr.HasQuery = true }},
		{"huge req_attribute", func(fr *ForwardRequest) { fr.ReqAttributes = []Attribute{{"AJP_X", big}} }},
		{"huge stored method", func(fr *ForwardRequest) { fr.Method = big }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := minimalRequest()
			tt.set(fr)
			dst := make([]byte, 3, 64)
			copy(dst, "abc")
			got, err := AppendForwardRequest(dst, fr, DefaultPacketSize)
			if !errors.Is(err, ErrPacketTooLarge) {
				t.Fatalf("err = %v, want ErrPacketTooLarge", err)
			}
			if len(got) != 3 || string(got) != "abc" {
				t.Fatalf("dst changed: %q (len %d)", got[:min(len(got), 16)], len(got))
			}
		})
	}
}

// paddedRequest returns minimalRequest with one string header whose value
// makes the whole packet exactly size bytes.
func paddedRequest(t *testing.T, size int) *ForwardRequest {
	t.Helper()
	fr := minimalRequest()
	fr.Headers = []Header{{"X-Pad", ""}}
	base, err := AppendForwardRequest(nil, fr, MaxPacketSize)
	if err != nil {
		t.Fatal(err)
	}
	fr.Headers[0].Value = strings.Repeat("p", size-len(base))
	return fr
}

func TestForwardRequestExactlyFitsPacket(t *testing.T) {
	for _, size := range []int{MinPacketSize, 16384, MaxPacketSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			fr := paddedRequest(t, size)
			got, err := AppendForwardRequest(nil, fr, size)
			if err != nil {
				t.Fatalf("a request of exactly %d bytes was refused: %v", size, err)
			}
			if len(got) != size {
				t.Fatalf("packet is %d bytes, want %d", len(got), size)
			}
			checkPacketFraming(t, got)

			fr.Headers[0].Value += "p"
			if _, err := AppendForwardRequest(nil, fr, size); !errors.Is(err, ErrPacketTooLarge) {
				t.Fatalf("a request of %d bytes with packet size %d: err = %v, want ErrPacketTooLarge", size+1, size, err)
			}
		})
	}
}

// A string header name is told from a coded header (0xA0xx) by its first
// byte, as in Tomcat's AjpProcessor.prepareRequest. A name of 0xA000..0xA0FF
// bytes therefore reads as a coded header: the container would take the
// name's bytes for the rest of the message. Such a name fits only in
// packets above 40 KiB; the encoder must refuse it, not send it.
func TestForwardRequestRefusesHeaderNameThatReadsAsCoded(t *testing.T) {
	for _, n := range []int{0xA000, 0xA001, 0xA00E, 0xA0FF} {
		t.Run(fmt.Sprintf("%#x", n), func(t *testing.T) {
			fr := minimalRequest()
			fr.Headers = []Header{{strings.Repeat("x", n), "v"}}
			got, err := AppendForwardRequest([]byte("dst"), fr, MaxPacketSize)
			if err == nil {
				pr, perr := parseForwardRequestSafe(got[7:])
				t.Fatalf("header name of %d bytes was encoded as a string whose length starts with 0xA0; "+
					"a container decodes it as a coded header (decoded: headers=%v err=%v)", n, headerNames(pr), perr)
			}
			if string(got) != "dst" {
				t.Fatalf("dst changed on error: %q", got[:min(len(got), 16)])
			}
		})
	}
	// 0xA100 bytes is unambiguous again and must still be sent.
	fr := minimalRequest()
	fr.Headers = []Header{{strings.Repeat("x", 0xA100), "v"}}
	if _, err := AppendForwardRequest(nil, fr, MaxPacketSize); err != nil {
		t.Fatalf("header name of 0xA100 bytes: %v", err)
	}
}

func headerNames(pr *parsedRequest) []string {
	if pr == nil {
		return nil
	}
	var names []string
	for _, h := range pr.Headers {
		names = append(names, h[0][:min(len(h[0]), 16)])
	}
	return names
}

func TestAppendBodyChunk(t *testing.T) {
	max := strings.Repeat("d", DefaultPacketSize-6)
	tests := []struct {
		name string
		data string
		want []byte
	}{
		{"end of body", "", wire(0x12, 0x34, 0x00, 0x00)},
		{"one byte", "x", wire(0x12, 0x34, 0x00, 0x03, 0x00, 0x01, "x")},
		{"hello", "hello", wire(0x12, 0x34, 0x00, 0x07, 0x00, 0x05, "hello")},
		{"256 bytes", strings.Repeat("z", 256), wire(0x12, 0x34, 0x01, 0x02, 0x01, 0x00, strings.Repeat("z", 256))},
		{"largest chunk of an 8 KiB packet", max, wire(0x12, 0x34, 0x1F, 0xFC, 0x1F, 0xFA, max)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendBodyChunk([]byte("pre"), []byte(tt.data))
			if string(got[:3]) != "pre" {
				t.Fatal("dst prefix clobbered")
			}
			if !bytes.Equal(got[3:], tt.want) {
				t.Fatalf("got % x\nwant % x", got[3:min(len(got), 40)], tt.want[:min(len(tt.want), 37)])
			}
		})
	}
	if got := AppendBodyChunk(nil, []byte(max)); len(got) != DefaultPacketSize {
		t.Fatalf("largest body packet is %d bytes, want %d", len(got), DefaultPacketSize)
	}
}

func TestCPingPacket(t *testing.T) {
	if want := []byte{0x12, 0x34, 0x00, 0x01, 0x0A}; !bytes.Equal(cpingPacket, want) {
		t.Fatalf("CPING is % x, want % x", cpingPacket, want)
	}
}

// ---- decoders ----

func TestParseSendHeadersDecodesCodedHeaders(t *testing.T) {
	names := []string{"Content-Type", "Content-Language", "Content-Length", "Date", "Last-Modified",
		"Location", "Set-Cookie", "Set-Cookie2", "Servlet-Engine", "Status", "WWW-Authenticate"}
	for i, name := range names {
		code := 0xA001 + i
		t.Run(name, func(t *testing.T) {
			value := "v" + fmt.Sprint(i)
			if name == "Content-Length" {
				value = "42"
			}
			p := sendHeaders(200, ajpStr("200"), 1, codedHdr(code, value))
			var head ResponseHead
			if err := ParseSendHeaders(p, &head); err != nil {
				t.Fatal(err)
			}
			if got := head.Header.Values(name); len(got) != 1 || got[0] != value {
				t.Fatalf("code %#04x: header %q = %q, want [%q] (all: %v)", code, name, got, value, head.Header)
			}
			if len(head.Header) != 1 {
				t.Fatalf("extra headers: %v", head.Header)
			}
		})
	}
}

func TestParseSendHeaders(t *testing.T) {
	tests := []struct {
		name        string
		p           []byte
		status      int
		header      http.Header
		cl          int64
		wantErr     bool
		unrelayable bool // a valid message whose response cannot be relayed
	}{
		{
			name:   "typical Tomcat response",
			p:      sendHeaders(200, ajpStr("200"), 3, codedHdr(0xA001, "text/html;charset=UTF-8"), codedHdr(0xA003, "5"), hdr("X-Powered-By", "JSP")),
			status: 200,
			header: http.Header{"Content-Type": {"text/html;charset=UTF-8"}, "Content-Length": {"5"}, "X-Powered-By": {"JSP"}},
			cl:     5,
		},
		{
			name:   "no headers, no Content-Length",
			p:      sendHeaders(204, ajpStr("204"), 0),
			status: 204, header: http.Header{}, cl: -1,
		},
		{
			name:   "null reason phrase",
			p:      sendHeaders(404, wire(0xFF, 0xFF), 0),
			status: 404, header: http.Header{}, cl: -1,
		},
		{
			name:   "string header names are canonicalized",
			p:      sendHeaders(200, ajpStr("OK"), 2, hdr("x-custom-thing", "a"), hdr("content-length", "0")),
			status: 200, header: http.Header{"X-Custom-Thing": {"a"}, "Content-Length": {"0"}}, cl: 0,
		},
		{
			name: "several Set-Cookie kept in order, coded and string",
			p: sendHeaders(200, ajpStr("200"), 4,
				codedHdr(0xA007, "a=1; Path=/"), hdr("Set-Cookie", "b=2"), codedHdr(0xA007, "c=3; HttpOnly"), hdr("set-cookie", "d=4")),
			status: 200, header: http.Header{"Set-Cookie": {"a=1; Path=/", "b=2", "c=3; HttpOnly", "d=4"}}, cl: -1,
		},
		{
			name:   "identical duplicate Content-Length is kept once",
			p:      sendHeaders(200, ajpStr("200"), 2, codedHdr(0xA003, "12"), hdr("Content-Length", "12")),
			status: 200, header: http.Header{"Content-Length": {"12"}}, cl: 12,
		},
		{
			name:        "conflicting Content-Length",
			p:           sendHeaders(200, ajpStr("200"), 2, codedHdr(0xA003, "12"), hdr("Content-Length", "13")),
			unrelayable: true,
		},
		{name: "Content-Length not a number", p: sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, "abc")), unrelayable: true},
		{name: "Content-Length negative", p: sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, "-1")), unrelayable: true},
		{name: "Content-Length empty", p: sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, "")), unrelayable: true},
		{name: "Content-Length with space", p: sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, " 5")), unrelayable: true},
		{name: "Content-Length list", p: sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, "5, 5")), unrelayable: true},
		{name: "Content-Length over int64", p: sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, "9223372036854775808")), unrelayable: true},
		{name: "Content-Length 20 digits", p: sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, "10000000000000000000")), unrelayable: true},
		{
			name:   "Content-Length largest int64",
			p:      sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, "9223372036854775807")),
			status: 200, header: http.Header{"Content-Length": {"9223372036854775807"}}, cl: 9223372036854775807,
		},
		{
			name:   "Content-Length 19 digits",
			p:      sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, "1000000000000000000")),
			status: 200, header: http.Header{"Content-Length": {"1000000000000000000"}}, cl: 1000000000000000000,
		},
		{
			name:   "Content-Length large",
			p:      sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, "1099511627776")),
			status: 200, header: http.Header{"Content-Length": {"1099511627776"}}, cl: 1 << 40,
		},
		{
			name: "invalid header names dropped, the rest kept",
			p: sendHeaders(200, ajpStr("200"), 6,
				hdr("Bad Name", "x"), hdr("X-Ok", "1"), hdr("a:b", "y"), hdr("", "z"), hdr("X-Split\r\nInjected", "w"), hdr("X-Ok2", "2")),
			status: 200, header: http.Header{"X-Ok": {"1"}, "X-Ok2": {"2"}}, cl: -1,
		},
		{
			name:   "null header value reads as empty",
			p:      sendHeaders(200, ajpStr("200"), 1, wire(ajpStr("X-Null"), 0xFF, 0xFF)),
			status: 200, header: http.Header{"X-Null": {""}}, cl: -1,
		},
		{name: "null header name", p: sendHeaders(200, ajpStr("200"), 1, wire(0xFF, 0xFF, ajpStr("v"))), wantErr: true},
		{name: "status 200 lowest", p: sendHeaders(200, ajpStr("200"), 0), status: 200, header: http.Header{}, cl: -1},
		{name: "status 999 highest", p: sendHeaders(999, ajpStr("999"), 0), status: 999, header: http.Header{}, cl: -1},
		{name: "status 0", p: sendHeaders(0, ajpStr("0"), 0), unrelayable: true},
		{name: "status 100 (AJP carries no 1xx)", p: sendHeaders(100, ajpStr("100"), 0), unrelayable: true},
		{name: "status 199", p: sendHeaders(199, ajpStr("199"), 0), unrelayable: true},
		{name: "status 1000", p: sendHeaders(1000, ajpStr("1000"), 0), unrelayable: true},
		{name: "status 65535", p: sendHeaders(0xFFFF, ajpStr("x"), 0), unrelayable: true},
		{name: "unknown coded header 0xA000", p: sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA000, "v")), wantErr: true},
		{name: "unknown coded header 0xA00C", p: sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA00C, "v")), wantErr: true},
		{name: "unknown coded header 0xA0FF", p: sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA0FF, "v")), wantErr: true},
		{name: "wrong message type", p: append([]byte{0x03}, sendHeaders(200, ajpStr("200"), 0)[1:]...), wantErr: true},
		{name: "empty payload", p: nil, wantErr: true},
		{name: "string without NUL", p: wire(0x04, 0x00, 0xC8, 0x00, 0x02, "OKX", 0x00, 0x00), wantErr: true},
		{name: "header count larger than the headers", p: sendHeaders(200, ajpStr("200"), 2, hdr("X-A", "1")), wantErr: true},
		{name: "header value without NUL", p: sendHeaders(200, ajpStr("200"), 1, wire(ajpStr("X-A"), 0x00, 0x01, "1", 0x01)), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var head ResponseHead
			err := ParseSendHeaders(tt.p, &head)
			if tt.unrelayable {
				if !errors.Is(err, ErrUnrelayable) || errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v, want ErrUnrelayable (and not ErrProtocol: the container is fine)", err)
				}
				return
			}
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v, want ErrProtocol", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if head.Status != tt.status {
				t.Errorf("status %d, want %d", head.Status, tt.status)
			}
			if head.ContentLength != tt.cl {
				t.Errorf("ContentLength %d, want %d", head.ContentLength, tt.cl)
			}
			if !reflect.DeepEqual(head.Header, tt.header) {
				t.Errorf("headers %v, want %v", head.Header, tt.header)
			}
		})
	}
}

func TestParseSendHeadersRejectsEveryTruncation(t *testing.T) {
	full := sendHeaders(200, ajpStr("200"), 6,
		codedHdr(0xA001, "text/plain"),
		hdr("Bad Name", "dropped"), // the skipped value must be bounds-checked too
		codedHdr(0xA003, "3"),
		hdr("X-Custom", "value"),
		codedHdr(0xA007, "a=b"),
		wire(ajpStr("X-Null"), 0xFF, 0xFF),
	)
	var head ResponseHead
	if err := ParseSendHeaders(full, &head); err != nil {
		t.Fatalf("full message: %v", err)
	}
	for i := range full {
		var head ResponseHead
		if err := ParseSendHeaders(full[:i], &head); !errors.Is(err, ErrProtocol) {
			t.Fatalf("truncated at %d of %d: err = %v, want ErrProtocol", i, len(full), err)
		}
	}
}

// The header count is a uint16 from the container; a 7-byte SEND_HEADERS
// that claims 65535 headers and carries none must not make the proxy
// allocate for 65535 of them (make(http.Header, n) costs ~6 MB).
func TestParseSendHeadersDoesNotPreallocateFromCount(t *testing.T) {
	p := wire(0x04, 0x00, 0xC8, 0xFF, 0xFF, 0xFF, 0xFF) // status 200, null reason, 65535 headers, none follow
	const runs = 10
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < runs; i++ {
		var head ResponseHead
		if err := ParseSendHeaders(p, &head); !errors.Is(err, ErrProtocol) {
			t.Fatalf("err = %v, want ErrProtocol", err)
		}
	}
	runtime.ReadMemStats(&after)
	if perParse := (after.TotalAlloc - before.TotalAlloc) / runs; perParse > 64<<10 {
		t.Fatalf("a %d-byte SEND_HEADERS claiming 65535 headers allocates %d bytes per parse; "+
			"bound the map size hint by what the payload can hold", len(p), perParse)
	}
}

func TestParseSendHeadersReusesHeaderMap(t *testing.T) {
	head := ResponseHead{Header: http.Header{}}
	h := head.Header
	if err := ParseSendHeaders(sendHeaders(200, ajpStr("200"), 1, hdr("X-A", "1")), &head); err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(head.Header).Pointer() != reflect.ValueOf(h).Pointer() {
		t.Fatal("caller's header map was replaced")
	}
}

func TestParseEndResponse(t *testing.T) {
	tests := []struct {
		name    string
		p       []byte
		reuse   bool
		wantErr bool
	}{
		{"reuse 1", []byte{0x05, 0x01}, true, false},
		{"reuse 0", []byte{0x05, 0x00}, false, false},
		{"padding after the flag", []byte{0x05, 0x01, 0x00}, true, false},
		{"reuse 2 is not a boolean", []byte{0x05, 0x02}, false, true},
		{"reuse 0xFF", []byte{0x05, 0xFF}, false, true},
		{"missing flag", []byte{0x05}, false, true},
		{"empty", nil, false, true},
		{"wrong type", []byte{0x04, 0x01}, false, true},
		{"CPONG", []byte{0x09}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reuse, err := ParseEndResponse(tt.p)
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v, want ErrProtocol", err)
				}
				if reuse {
					t.Fatal("reuse true on error")
				}
				return
			}
			if err != nil || reuse != tt.reuse {
				t.Fatalf("got %v, %v; want %v", reuse, err, tt.reuse)
			}
		})
	}
}

func TestParseGetBodyChunk(t *testing.T) {
	tests := []struct {
		name    string
		p       []byte
		size    int
		wantErr bool
	}{
		{"Tomcat's 8 KiB request", []byte{0x06, 0x1F, 0xFA}, 8186, false},
		{"small", []byte{0x06, 0x00, 0x10}, 16, false},
		{"zero", []byte{0x06, 0x00, 0x00}, 0, false},
		{"largest", []byte{0x06, 0xFF, 0xFF}, 65535, false},
		{"short", []byte{0x06, 0x1F}, 0, true},
		{"type only", []byte{0x06}, 0, true},
		{"trailing byte", []byte{0x06, 0x1F, 0xFA, 0x00}, 0, true},
		{"wrong type", []byte{0x03, 0x1F, 0xFA}, 0, true},
		{"empty", nil, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size, err := ParseGetBodyChunk(tt.p)
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v, want ErrProtocol", err)
				}
				return
			}
			if err != nil || size != tt.size {
				t.Fatalf("got %d, %v; want %d", size, err, tt.size)
			}
		})
	}
}

func TestParseBodyChunkLen(t *testing.T) {
	tests := []struct {
		name       string
		p          []byte
		payloadLen int
		n          int
		wantErr    bool
	}{
		{"Tomcat's chunk with trailing NUL", wire(0x03, 0x00, 0x05), 3 + 5 + 1, 5, false},
		{"chunk without trailing NUL", wire(0x03, 0x00, 0x05), 3 + 5, 5, false},
		{"chunk with padding", wire(0x03, 0x00, 0x05), 100, 5, false},
		{"flush (empty chunk)", wire(0x03, 0x00, 0x00), 4, 0, false},
		{"largest chunk of an 8 KiB packet", wire(0x03, 0x1F, 0xF8), DefaultPacketSize - 4, 8184, false},
		{"overrun by one", wire(0x03, 0x00, 0x05), 3 + 4, 0, true},
		{"length 0xFFFF in a small packet", wire(0x03, 0xFF, 0xFF), 100, 0, true},
		{"header only, no room", wire(0x03, 0x00, 0x01), 3, 0, true},
		{"short", wire(0x03, 0x00), 3, 0, true},
		{"wrong type", wire(0x04, 0x00, 0x05), 9, 0, true},
		{"empty", nil, 9, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParseBodyChunkLen(tt.p, tt.payloadLen)
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v, want ErrProtocol", err)
				}
				return
			}
			if err != nil || n != tt.n {
				t.Fatalf("got %d, %v; want %d", n, err, tt.n)
			}
		})
	}
}

func TestParsePacketHeader(t *testing.T) {
	tests := []struct {
		name      string
		hdr       []byte
		maxPacket int
		n         int
		wantErr   bool
	}{
		{"CPONG", wire('A', 'B', 0x00, 0x01), DefaultPacketSize, 1, false},
		{"END_RESPONSE", wire('A', 'B', 0x00, 0x02), DefaultPacketSize, 2, false},
		{"largest 8 KiB payload", wire('A', 'B', 0x1F, 0xFC), DefaultPacketSize, 8188, false},
		{"one over 8 KiB", wire('A', 'B', 0x1F, 0xFD), DefaultPacketSize, 0, true},
		{"largest 64 KiB payload", wire('A', 'B', 0xFF, 0xFC), MaxPacketSize, 65532, false},
		{"0xFFFF with 64 KiB packets", wire('A', 'B', 0xFF, 0xFF), MaxPacketSize, 0, true},
		{"extra bytes ignored", wire('A', 'B', 0x00, 0x02, 0x05, 0x01), DefaultPacketSize, 2, false},
		{"zero length", wire('A', 'B', 0x00, 0x00), DefaultPacketSize, 0, true},
		{"proxy→container prefix", wire(0x12, 0x34, 0x00, 0x01), DefaultPacketSize, 0, true},
		{"an HTTP response", []byte("HTTP/1.1 400"), DefaultPacketSize, 0, true},
		{"lower-case ab", wire('a', 'b', 0x00, 0x01), DefaultPacketSize, 0, true},
		{"swapped BA", wire('B', 'A', 0x00, 0x01), DefaultPacketSize, 0, true},
		{"short", wire('A', 'B', 0x00), DefaultPacketSize, 0, true},
		{"empty", nil, DefaultPacketSize, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := ParsePacketHeader(tt.hdr, tt.maxPacket)
			if tt.wantErr {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("err = %v, want ErrProtocol", err)
				}
				return
			}
			if err != nil || n != tt.n {
				t.Fatalf("got %d, %v; want %d", n, err, tt.n)
			}
		})
	}
}

// ---- round trip ----

// randomForwardRequest builds a ForwardRequest from r, drawing names and
// values that exercise coded and uncoded headers, stored methods, empty and
// null-able strings and every attribute.
func randomForwardRequest(r *rand.Rand) *ForwardRequest {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	str := func(maxLen int) string {
		b := make([]byte, r.IntN(maxLen+1))
		for i := range b {
			if r.IntN(8) == 0 {
				b[i] = byte(r.IntN(256)) // any byte, NUL included
			} else {
				b[i] = byte('a' + r.IntN(26))
			}
		}
		return string(b)
	}
	fr := &ForwardRequest{
		Method:     pick("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "MKACTIVITY", "PATCH", "BREW", "get", str(12)),
		Protocol:   pick("HTTP/1.1", "HTTP/1.0", "HTTP/2.0", ""),
		RequestURI: "/" + str(40),
		RemoteAddr: pick("127.0.0.1", "::1", "2001:db8::7", ""),
		RemoteHost: pick("", "", "client.example"),
		ServerName: pick("localhost", "www.example.com", ""),
		ServerPort: uint16(r.IntN(0x10000)),
		IsSSL:      r.IntN(2) == 0,
	}
	names := []string{"Host", "host", "ACCEPT", "User-Agent", "Cookie", "cookie2", "Content-Length", "Referer",
		"Pragma", "Authorization", "Accept-Language", "X-Forwarded-For", "X-Custom", "Accept-Ranges", "If-None-Match"}
	for i := r.IntN(20); i > 0; i-- {
		name := names[r.IntN(len(names))]
		if r.IntN(5) == 0 {
			name = "X-" + str(10)
		}
		fr.Headers = append(fr.Headers, Header{name, str(60)})
	}
	if r.IntN(2) == 0 {
		fr.RemoteUser, fr.AuthType = str(10), pick("Basic", "Bearer", "")
	}
	switch r.IntN(3) {
	case 0:
		fr.QueryString, fr.HasQuery = str(30), true
	case 1:
		fr.HasQuery = true
	}
	if r.IntN(2) == 0 {
		fr.JvmRoute = pick("node1", "tomcat2")
	}
	if r.IntN(2) == 0 {
		fr.IsSSL = true
		fr.SSLCert = "-----BEGIN CERTIFICATE-----\n" + str(200) + "\n-----END CERTIFICATE-----\n"
		fr.SSLCipher = pick("TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256")
		fr.SSLSession = str(64)
		fr.SSLKeySize = r.IntN(1024)
	}
	if r.IntN(2) == 0 {
		fr.Secret = str(32)
	}
	for i := r.IntN(4); i > 0; i-- {
		fr.ReqAttributes = append(fr.ReqAttributes, Attribute{fmt.Sprintf("AJP_ATTR_%d", i), str(20)})
	}
	return fr
}

// checkRoundTrip decodes an encoded FORWARD_REQUEST packet with the test
// container and compares every field with fr.
func checkRoundTrip(t testing.TB, fr *ForwardRequest, pkt []byte) {
	t.Helper()
	checkPacketFraming(t, pkt)
	pr, err := parseForwardRequestSafe(pkt[4:])
	if err != nil {
		t.Fatalf("container cannot decode the request: %v\n% x", err, pkt[:min(len(pkt), 64)])
	}
	eq := func(field string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: container got %q, sent %q", field, got, want)
		}
	}
	eq("method", pr.Method, fr.Method)
	eq("protocol", pr.Protocol, fr.Protocol)
	eq("req_uri", pr.URI, fr.RequestURI)
	eq("remote_addr", pr.RemoteAddr, fr.RemoteAddr)
	eq("remote_host", pr.RemoteHost, fr.RemoteHost)
	eq("remote_host is null", pr.RemoteHostNull, fr.RemoteHost == "")
	eq("server_name", pr.ServerName, fr.ServerName)
	eq("server_port", pr.ServerPort, int(fr.ServerPort))
	eq("is_ssl", pr.IsSSL, fr.IsSSL)

	var wantHeaders [][2]string
	for _, h := range fr.Headers {
		name := h.Name
		if code := requestHeaderCode(name); code != 0 {
			name = requestHeaderNames[code-0xA001] // coded headers arrive by code
		}
		wantHeaders = append(wantHeaders, [2]string{name, h.Value})
	}
	eq("headers", pr.Headers, wantHeaders)

	wantAttrs := map[byte]string{}
	add := func(code byte, v string, present bool) {
		if present {
			wantAttrs[code] = v
		}
	}
	add(attrRemoteUser, fr.RemoteUser, fr.RemoteUser != "")
	add(attrAuthType, fr.AuthType, fr.AuthType != "")
	add(attrQueryString, fr.QueryString, fr.HasQuery || fr.QueryString != "")
	add(attrJvmRoute, fr.JvmRoute, fr.JvmRoute != "")
	add(attrSSLCert, fr.SSLCert, fr.SSLCert != "")
	add(attrSSLCipher, fr.SSLCipher, fr.SSLCipher != "")
	add(attrSSLSession, fr.SSLSession, fr.SSLSession != "")
	add(attrSecret, fr.Secret, fr.Secret != "")
	add(attrStoredMethod, fr.Method, methodCode(fr.Method) == methodStored)
	eq("attributes", pr.Attrs, wantAttrs)

	wantKey := 0
	if fr.SSLKeySize > 0 {
		wantKey = min(fr.SSLKeySize, 0xFFFF)
	}
	eq("ssl_key_size", pr.KeySize, wantKey)

	wantReq := map[string]string{}
	for _, a := range fr.ReqAttributes {
		wantReq[a.Name] = a.Value // last one wins, as in the container's map
	}
	eq("req_attributes", pr.ReqAttrs, wantReq)
}

func TestForwardRequestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		fr := randomForwardRequest(r)
		pkt, err := AppendForwardRequest(nil, fr, DefaultPacketSize)
		if errors.Is(err, ErrPacketTooLarge) {
			continue
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		checkRoundTrip(t, fr, pkt)
		if t.Failed() {
			t.Fatalf("request %d: %#v", i, fr)
		}
	}
}

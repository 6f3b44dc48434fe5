package ajp

import (
	"encoding/binary"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// ---- FuzzParsePacketHeader ----

// fuzzPacketSize maps any uint16 onto a valid packet size, 8192..65536.
func fuzzPacketSize(v uint16) int {
	return MinPacketSize + int(v)%(MaxPacketSize-MinPacketSize+1)
}

func packetHeaderSeeds() []fuzzSeed {
	return []fuzzSeed{
		{"cpong", []any{wire('A', 'B', 0x00, 0x01, 0x09), uint16(0)}},
		{"end-response", []any{wire('A', 'B', 0x00, 0x02, 0x05, 0x01), uint16(0)}},
		{"largest-8k", []any{wire('A', 'B', 0x1F, 0xFC), uint16(0)}},
		{"over-8k", []any{wire('A', 'B', 0x1F, 0xFD), uint16(0)}},
		{"largest-64k", []any{wire('A', 'B', 0xFF, 0xFC), uint16(MaxPacketSize - MinPacketSize)}},
		{"ffff-64k", []any{wire('A', 'B', 0xFF, 0xFF), uint16(MaxPacketSize - MinPacketSize)}},
		{"zero-length", []any{wire('A', 'B', 0x00, 0x00), uint16(0)}},
		{"to-server-prefix", []any{wire(0x12, 0x34, 0x00, 0x01, 0x0A), uint16(0)}},
		{"http-response", []any{[]byte("HTTP/1.1 400 Bad Request\r\n"), uint16(0)}},
		{"short", []any{wire('A', 'B', 0x00), uint16(0)}},
	}
}

func FuzzParsePacketHeader(f *testing.F) {
	// seeds: testdata/fuzz/<name>/, kept in sync with fuzzSeeds by TestFuzzSeedCorpus
	f.Fuzz(func(t *testing.T, hdr []byte, sizeSel uint16) {
		size := fuzzPacketSize(sizeSel)
		n, err := ParsePacketHeader(hdr, size)
		valid := len(hdr) >= 4 && hdr[0] == 'A' && hdr[1] == 'B'
		var want int
		if valid {
			want = int(binary.BigEndian.Uint16(hdr[2:]))
			valid = want >= 1 && want <= size-4
		}
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			if valid {
				t.Fatalf("valid header % x (packet size %d) refused: %v", hdr[:4], size, err)
			}
			return
		}
		if !valid || n != want {
			t.Fatalf("header % x (packet size %d): got %d, want error or %d", hdr[:min(len(hdr), 4)], size, n, want)
		}
	})
}

// ---- FuzzParseSendHeaders ----

func sendHeadersSeeds() []fuzzSeed {
	allCoded := [][]byte{}
	for i := 0; i < 11; i++ {
		v := "v"
		if i == 2 {
			v = "0"
		}
		allCoded = append(allCoded, codedHdr(0xA001+i, v))
	}
	return []fuzzSeed{
		{"typical", []any{sendHeaders(200, ajpStr("200"), 5,
			codedHdr(0xA001, "text/html;charset=UTF-8"), codedHdr(0xA003, "1234"),
			codedHdr(0xA007, "JSESSIONID=ABC.node1; Path=/; HttpOnly"), codedHdr(0xA004, "Mon, 01 Jan 2024 00:00:00 GMT"),
			hdr("X-Request-Id", "42"))}},
		{"all-coded", []any{sendHeaders(200, ajpStr("200"), 11, allCoded...)}},
		{"set-cookies", []any{sendHeaders(200, ajpStr("200"), 3, codedHdr(0xA007, "a=1"), hdr("Set-Cookie", "b=2"), hdr("set-cookie", "c=3"))}},
		{"redirect", []any{sendHeaders(302, ajpStr("302"), 2, codedHdr(0xA006, "http://example.com/x"), codedHdr(0xA003, "0"))}},
		{"cl-conflict", []any{sendHeaders(200, ajpStr("200"), 2, codedHdr(0xA003, "1"), hdr("Content-Length", "2"))}},
		{"cl-duplicate", []any{sendHeaders(200, ajpStr("200"), 2, codedHdr(0xA003, "2"), hdr("content-length", "2"))}},
		{"cl-invalid", []any{sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA003, "+5"))}},
		{"invalid-names", []any{sendHeaders(200, ajpStr("200"), 3, hdr("a b", "1"), hdr("", "2"), hdr("X\r\nY", "3"))}},
		{"null-reason-and-value", []any{sendHeaders(500, wire(0xFF, 0xFF), 1, wire(ajpStr("X-Null"), 0xFF, 0xFF))}},
		{"null-name", []any{sendHeaders(200, ajpStr("200"), 1, wire(0xFF, 0xFF, ajpStr("v")))}},
		{"status-199", []any{sendHeaders(199, ajpStr("199"), 0)}},
		{"status-1000", []any{sendHeaders(1000, ajpStr("1000"), 0)}},
		{"unknown-code", []any{sendHeaders(200, ajpStr("200"), 1, codedHdr(0xA00C, "v"))}},
		{"count-too-large", []any{sendHeaders(200, ajpStr("200"), 0xFFFF, hdr("X-A", "1"))}},
		{"truncated", []any{sendHeaders(200, ajpStr("200"), 1, hdr("X-A", "1"))[:10]}},
		{"no-nul", []any{wire(0x04, 0x00, 0xC8, 0x00, 0x02, "OKX", 0x00, 0x00)}},
	}
}

func FuzzParseSendHeaders(f *testing.F) {
	// seeds: testdata/fuzz/<name>/, kept in sync with fuzzSeeds by TestFuzzSeedCorpus
	f.Fuzz(func(t *testing.T, p []byte) {
		var head ResponseHead
		err := ParseSendHeaders(p, &head)
		if err != nil {
			if errors.Is(err, ErrProtocol) == errors.Is(err, ErrUnrelayable) {
				t.Fatalf("error %v wraps neither or both of ErrProtocol and ErrUnrelayable", err)
			}
			return
		}
		if head.Status < 200 || head.Status > 999 {
			t.Fatalf("accepted status %d", head.Status)
		}
		if len(p) == 0 || p[0] != TypeSendHeaders {
			t.Fatal("accepted a message that is not SEND_HEADERS")
		}
		for name, vals := range head.Header {
			if !httpguts.ValidHeaderFieldName(name) {
				t.Fatalf("invalid header name %q passed", name)
			}
			if c := http.CanonicalHeaderKey(name); c != name {
				t.Fatalf("header name %q not canonical (%q)", name, c)
			}
			if len(vals) == 0 {
				t.Fatalf("header %q with no values", name)
			}
		}
		cls := head.Header["Content-Length"]
		switch {
		case head.ContentLength < 0 && len(cls) != 0:
			t.Fatalf("Content-Length %q present but ContentLength %d", cls, head.ContentLength)
		case head.ContentLength >= 0 && len(cls) != 1:
			t.Fatalf("ContentLength %d but Content-Length values %q", head.ContentLength, cls)
		case head.ContentLength >= 0:
			if v, err := strconv.ParseInt(cls[0], 10, 64); err != nil || v != head.ContentLength || strings.TrimLeft(cls[0], "0123456789") != "" {
				t.Fatalf("Content-Length %q decoded as %d", cls[0], head.ContentLength)
			}
		}
		// Whatever was accepted must survive being sent again.
		var again []byte
		count := 0
		for name, vals := range head.Header {
			for _, v := range vals {
				again = append(again, hdr(name, v)...)
				count++
			}
		}
		var head2 ResponseHead
		if err := ParseSendHeaders(sendHeaders(head.Status, ajpStr("x"), count, again), &head2); err != nil {
			t.Fatalf("re-encoded headers refused: %v", err)
		}
		if head2.Status != head.Status || head2.ContentLength != head.ContentLength || !reflect.DeepEqual(head2.Header, head.Header) {
			t.Fatalf("re-encoded headers differ:\n%+v\n%+v", head, head2)
		}
	})
}

// ---- FuzzParseEndResponse, FuzzParseGetBodyChunk, FuzzParseBodyChunkLen ----

func endResponseSeeds() []fuzzSeed {
	return []fuzzSeed{
		{"reuse-1", []any{[]byte{0x05, 0x01}}},
		{"reuse-0", []any{[]byte{0x05, 0x00}}},
		{"reuse-2", []any{[]byte{0x05, 0x02}}},
		{"padded", []any{[]byte{0x05, 0x01, 0x00}}},
		{"type-only", []any{[]byte{0x05}}},
		{"wrong-type", []any{[]byte{0x04, 0x01}}},
	}
}

func FuzzParseEndResponse(f *testing.F) {
	// seeds: testdata/fuzz/<name>/, kept in sync with fuzzSeeds by TestFuzzSeedCorpus
	f.Fuzz(func(t *testing.T, p []byte) {
		reuse, err := ParseEndResponse(p)
		valid := len(p) >= 2 && p[0] == TypeEndResponse && p[1] <= 1
		if (err == nil) != valid {
			t.Fatalf("% x: err %v, valid %v", p, err, valid)
		}
		if err != nil && !errors.Is(err, ErrProtocol) {
			t.Fatalf("error %v does not wrap ErrProtocol", err)
		}
		if valid && reuse != (p[1] == 1) {
			t.Fatalf("% x: reuse %v", p, reuse)
		}
		if !valid && reuse {
			t.Fatal("reuse true on error")
		}
	})
}

func getBodyChunkSeeds() []fuzzSeed {
	return []fuzzSeed{
		{"tomcat-8k", []any{[]byte{0x06, 0x1F, 0xFA}}},
		{"zero", []any{[]byte{0x06, 0x00, 0x00}}},
		{"ffff", []any{[]byte{0x06, 0xFF, 0xFF}}},
		{"short", []any{[]byte{0x06, 0x1F}}},
		{"long", []any{[]byte{0x06, 0x1F, 0xFA, 0x00}}},
		{"wrong-type", []any{[]byte{0x03, 0x1F, 0xFA}}},
	}
}

func FuzzParseGetBodyChunk(f *testing.F) {
	// seeds: testdata/fuzz/<name>/, kept in sync with fuzzSeeds by TestFuzzSeedCorpus
	f.Fuzz(func(t *testing.T, p []byte) {
		size, err := ParseGetBodyChunk(p)
		valid := len(p) == 3 && p[0] == TypeGetBodyChunk
		if (err == nil) != valid {
			t.Fatalf("% x: err %v, valid %v", p, err, valid)
		}
		if err != nil && !errors.Is(err, ErrProtocol) {
			t.Fatalf("error %v does not wrap ErrProtocol", err)
		}
		if valid && size != int(binary.BigEndian.Uint16(p[1:])) {
			t.Fatalf("% x: size %d", p, size)
		}
	})
}

func bodyChunkLenSeeds() []fuzzSeed {
	return []fuzzSeed{
		{"tomcat-chunk", []any{wire(0x03, 0x00, 0x05, "hello", 0x00), uint16(9)}},
		{"no-trailing-nul", []any{wire(0x03, 0x00, 0x05, "hello"), uint16(8)}},
		{"flush", []any{wire(0x03, 0x00, 0x00, 0x00), uint16(4)}},
		{"overrun", []any{wire(0x03, 0x00, 0x05, "hell"), uint16(7)}},
		{"ffff", []any{wire(0x03, 0xFF, 0xFF), uint16(100)}},
		{"largest-8k", []any{wire(0x03, 0x1F, 0xF8), uint16(8188)}},
		{"short", []any{wire(0x03, 0x00), uint16(3)}},
	}
}

func FuzzParseBodyChunkLen(f *testing.F) {
	// seeds: testdata/fuzz/<name>/, kept in sync with fuzzSeeds by TestFuzzSeedCorpus
	f.Fuzz(func(t *testing.T, p []byte, payloadLen uint16) {
		n, err := ParseBodyChunkLen(p, int(payloadLen))
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			if len(p) >= 3 && p[0] == TypeSendBodyChunk && int(binary.BigEndian.Uint16(p[1:]))+3 <= int(payloadLen) {
				t.Fatalf("% x in a payload of %d refused: %v", p[:3], payloadLen, err)
			}
			return
		}
		if len(p) < 3 || p[0] != TypeSendBodyChunk {
			t.Fatalf("accepted % x", p)
		}
		if n != int(binary.BigEndian.Uint16(p[1:])) || n < 0 || n+3 > int(payloadLen) {
			t.Fatalf("% x in a payload of %d: length %d", p[:3], payloadLen, n)
		}
	})
}

// ---- FuzzForwardRequestRoundTrip ----

func forwardRequestSeeds() []fuzzSeed {
	// method, uri, remoteHost, port, flags, headers, query, misc, reqAttrs, secret, keySize, pad, size
	misc := strings.Join([]string{"HTTP/1.1", "192.0.2.1", "www.example.com", "", "", "", "", "", ""}, "\x00")
	tlsMisc := strings.Join([]string{"HTTP/1.1", "2001:db8::1", "shop.example", "alice", "Basic", "node1",
		"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "TLS_AES_256_GCM_SHA384", "0123ABCD"}, "\x00")
	browser := "Host:www.example.com\nUser-Agent:Mozilla/5.0\nAccept:text/html\nAccept-Language:en\n" +
		"Accept-Encoding:gzip, br\nCookie:JSESSIONID=ABC.node1; theme=dark\nReferer:http://www.example.com/\nX-Forwarded-For:198.51.100.7"
	return []fuzzSeed{
		{"browser-get", []any{"GET", "/shop/cart.jsp", "", uint16(80), byte(0x02), browser, "item=42", misc, "AJP_REMOTE_PORT=54321", "s3cr3t", 0, uint16(0), uint16(0)}},
		{"tls-post", []any{"POST", "/login", "client.example", uint16(443), byte(0x01), "Content-Type:application/x-www-form-urlencoded\nContent-Length:11", "", tlsMisc, "AJP_SSL_PROTOCOL=TLSv1.3\nAJP_LOCAL_ADDR=10.0.0.2", "", 256, uint16(0), uint16(0)}},
		{"stored-method", []any{"PATCH", "/api/item/1", "", uint16(8080), byte(0), "Content-Type:application/json", "", misc, "", "", 0, uint16(0), uint16(0)}},
		{"bare-question-mark", []any{"GET", "/x", "", uint16(80), byte(0x02), "", "", misc, "", "", 0, uint16(0), uint16(0)}},
		{"all-empty", []any{"", "", "", uint16(0), byte(0), "", "", "", "", "", 0, uint16(0), uint16(0)}},
		{"coded-header-case", []any{"GET", "/", "", uint16(80), byte(0), "ACCEPT:a\naccept-charset:b\nCoOkIe:c\ncookie2:d\nCONTENT-length:0", "", misc, "", "", 0, uint16(0), uint16(0)}},
		{"exactly-8k", []any{"GET", "/", "", uint16(80), byte(0), "Host:h", "", misc, "", "", 0, uint16(8116), uint16(0)}}, // packet of exactly 8192 bytes
		{"just-over-8k", []any{"GET", "/", "", uint16(80), byte(0), "Host:h", "", misc, "", "", 0, uint16(8117), uint16(0)}},
		{"big-packet", []any{"GET", "/", "", uint16(80), byte(0), "Host:h", "", misc, "", "", 0, uint16(30000), uint16(40000)}},
		{"key-size-overflow", []any{"GET", "/", "", uint16(80), byte(0x01), "", "", tlsMisc, "", "", 1 << 20, uint16(0), uint16(0)}},
		{"nul-bytes", []any{"G\x00T", "/a\x00b", "\x00", uint16(1), byte(0), "X-\x00:\x00", "\x00", "\x00\x00\x00", "\x00=\x00", "\x00", -5, uint16(0), uint16(0)}},
	}
}

// fuzzForwardRequest assembles a ForwardRequest from fuzz arguments.
// headers holds "name:value" lines, reqAttrs "name=value" lines, misc the
// NUL-separated protocol, remote_addr, server_name, remote_user, auth_type,
// jvm_route, ssl_cert, ssl_cipher, ssl_session.
func fuzzForwardRequest(method, uri, remoteHost string, port uint16, flags byte, headers, query, misc, reqAttrs, secret string, keySize int, pad uint16) *ForwardRequest {
	m := strings.Split(misc, "\x00")
	for len(m) < 9 {
		m = append(m, "")
	}
	fr := &ForwardRequest{
		Method: method, Protocol: m[0], RequestURI: uri, RemoteAddr: m[1], RemoteHost: remoteHost,
		ServerName: m[2], ServerPort: port, IsSSL: flags&1 != 0,
		RemoteUser: m[3], AuthType: m[4], QueryString: query, HasQuery: flags&2 != 0, JvmRoute: m[5],
		SSLCert: m[6], SSLCipher: m[7], SSLSession: m[8], SSLKeySize: keySize, Secret: secret,
	}
	if headers != "" {
		for _, line := range strings.Split(headers, "\n") {
			name, value, _ := strings.Cut(line, ":")
			fr.Headers = append(fr.Headers, Header{name, value})
		}
	}
	if pad > 0 {
		fr.Headers = append(fr.Headers, Header{"X-Pad", strings.Repeat("p", int(pad))})
	}
	if reqAttrs != "" {
		for _, line := range strings.Split(reqAttrs, "\n") {
			name, value, _ := strings.Cut(line, "=") // duplicates: checkRoundTrip expects the last
			fr.ReqAttributes = append(fr.ReqAttributes, Attribute{name, value})
		}
	}
	return fr
}

// specPacketSize is the size FORWARD_REQUEST must have according to the
// spec, computed field by field without the encoder.
func specPacketSize(fr *ForwardRequest) int {
	s := func(v string) int { return 2 + len(v) + 1 }
	attr := func(v string) int {
		if v == "" {
			return 0
		}
		return 1 + s(v)
	}
	n := 4 + 1 + 1 + s(fr.Protocol) + s(fr.RequestURI) + s(fr.RemoteAddr)
	if fr.RemoteHost == "" {
		n += 2
	} else {
		n += s(fr.RemoteHost)
	}
	n += s(fr.ServerName) + 2 + 1 + 2
	for _, h := range fr.Headers {
		if requestHeaderCode(h.Name) != 0 {
			n += 2
		} else {
			n += s(h.Name)
		}
		n += s(h.Value)
	}
	n += attr(fr.RemoteUser) + attr(fr.AuthType) + attr(fr.JvmRoute) + attr(fr.SSLCert) +
		attr(fr.SSLCipher) + attr(fr.SSLSession) + attr(fr.Secret)
	if fr.HasQuery || fr.QueryString != "" {
		n += 1 + s(fr.QueryString)
	}
	if fr.SSLKeySize > 0 {
		n += 3
	}
	for _, a := range fr.ReqAttributes {
		n += 1 + s(a.Name) + s(a.Value)
	}
	if methodCode(fr.Method) == methodStored {
		n += 1 + s(fr.Method)
	}
	return n + 1
}

func FuzzForwardRequestRoundTrip(f *testing.F) {
	// seeds: testdata/fuzz/<name>/, kept in sync with fuzzSeeds by TestFuzzSeedCorpus
	f.Fuzz(func(t *testing.T, method, uri, remoteHost string, port uint16, flags byte, headers, query, misc, reqAttrs, secret string, keySize int, pad, sizeSel uint16) {
		fr := fuzzForwardRequest(method, uri, remoteHost, port, flags, headers, query, misc, reqAttrs, secret, keySize, pad)
		size := fuzzPacketSize(sizeSel)
		want := specPacketSize(fr)
		// A string header name of 0xA000..0xA0FF bytes would read as a coded
		// header; the encoder must refuse it whatever the packet size.
		encodable := true
		for _, h := range fr.Headers {
			if requestHeaderCode(h.Name) == 0 && len(h.Name)>>8 == 0xA0 {
				encodable = false
			}
		}
		dst := []byte("prefix")
		pkt, err := AppendForwardRequest(dst, fr, size)
		if err != nil {
			if !errors.Is(err, ErrPacketTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			if want <= size && encodable {
				t.Fatalf("a request of %d bytes refused with packet size %d", want, size)
			}
			if string(pkt) != "prefix" {
				t.Fatalf("dst changed on error: %q", pkt)
			}
			return
		}
		if want > size || !encodable {
			t.Fatalf("a request of %d bytes (encodable %v) accepted with packet size %d", want, encodable, size)
		}
		if string(pkt[:6]) != "prefix" {
			t.Fatalf("dst prefix clobbered: %q", pkt[:6])
		}
		pkt = pkt[6:]
		if len(pkt) != want {
			t.Fatalf("packet is %d bytes, the spec says %d", len(pkt), want)
		}
		checkRoundTrip(t, fr, pkt)
	})
}

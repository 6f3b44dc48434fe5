package ajptransport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"
)

// The named seeds below are the committed corpus under testdata/fuzz/; go
// test runs them as regression cases. After changing a seed, rewrite the
// files with
//
//	go test ./ajptransport -run TestFuzzSeedCorpus -update-fuzz-seeds
//
// Crashers found by `go test -fuzz` land in the same directories (hashed
// names) and are kept there as regression seeds.
var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite the named fuzz seed files under testdata/fuzz")

type fuzzSeed struct {
	name string
	args []any
}

// fuzzSeeds lists the named seeds of every fuzz target.
func fuzzSeeds() map[string][]fuzzSeed {
	return map[string][]fuzzSeed{
		"FuzzParsePacketHeader":       packetHeaderSeeds(),
		"FuzzParseSendHeaders":        sendHeadersSeeds(),
		"FuzzParseEndResponse":        endResponseSeeds(),
		"FuzzParseGetBodyChunk":       getBodyChunkSeeds(),
		"FuzzParseBodyChunkLen":       bodyChunkLenSeeds(),
		"FuzzForwardRequestRoundTrip": forwardRequestSeeds(),
		"FuzzResponseStream":          responseStreamSeeds(),
	}
}

// marshalFuzzCorpus writes args in the `go test fuzz v1` file format.
func marshalFuzzCorpus(args []any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case uint16, int, bool:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		default:
			panic(fmt.Sprintf("marshalFuzzCorpus: unsupported %T", a))
		}
	}
	return b.Bytes()
}

func TestFuzzSeedCorpus(t *testing.T) {
	for target, seeds := range fuzzSeeds() {
		dir := filepath.Join("testdata", "fuzz", target)
		if *updateFuzzSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		for _, s := range seeds {
			if seen[s.name] {
				t.Fatalf("%s: duplicate seed name %q", target, s.name)
			}
			seen[s.name] = true
			path := filepath.Join(dir, s.name)
			want := marshalFuzzCorpus(s.args)
			if *updateFuzzSeeds {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("seed %s is missing or stale (err %v); run go test -run TestFuzzSeedCorpus -update-fuzz-seeds", path, err)
			}
		}
	}
}

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
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if head.Status < 200 || head.Status > 999 {
			t.Fatalf("accepted status %d", head.Status)
		}
		if len(p) == 0 || p[0] != typeSendHeaders {
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
		valid := len(p) >= 2 && p[0] == typeEndResponse && p[1] <= 1
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
		valid := len(p) == 3 && p[0] == typeGetBodyChunk
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
			if len(p) >= 3 && p[0] == typeSendBodyChunk && int(binary.BigEndian.Uint16(p[1:]))+3 <= int(payloadLen) {
				t.Fatalf("% x in a payload of %d refused: %v", p[:3], payloadLen, err)
			}
			return
		}
		if len(p) < 3 || p[0] != typeSendBodyChunk {
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

// ---- FuzzResponseStream ----

// streamConn is a net.Conn whose reads come from a fixed byte stream (the
// container's side of one exchange) and whose writes are recorded. It never
// blocks: at the end of the stream it reports EOF, or, when stall is set, a
// timeout as a silent container would cause once the deadline passes.
type streamConn struct {
	mu       sync.Mutex
	in       []byte
	off      int
	chunk    int // largest read, to exercise short reads
	stall    bool
	deadline time.Time
	closed   bool
	out      []byte

	ioWithoutDeadline int // reads/writes a silent peer would block forever
	readsAfterEnd     int
}

var errStreamClosed = errors.New("streamConn: use of closed connection")

func (c *streamConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errStreamClosed
	}
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	if c.off == len(c.in) {
		c.readsAfterEnd++
		if c.stall {
			if c.deadline.IsZero() {
				c.ioWithoutDeadline++
			}
			return 0, os.ErrDeadlineExceeded
		}
		return 0, io.EOF
	}
	if c.deadline.IsZero() {
		c.ioWithoutDeadline++
	}
	n := copy(p[:min(len(p), c.chunk)], c.in[c.off:])
	c.off += n
	return n, nil
}

func (c *streamConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errStreamClosed
	}
	if c.deadline.IsZero() {
		c.ioWithoutDeadline++
	}
	if !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		return 0, os.ErrDeadlineExceeded
	}
	c.out = append(c.out, p...)
	return len(p), nil
}

func (c *streamConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *streamConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *streamConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}
func (c *streamConn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *streamConn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }
func (c *streamConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *streamConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8009}
}

// response stream building blocks, container → proxy
var (
	pktCPong = fromServerPacket([]byte{typeCPong})
	pktEnd1  = fromServerPacket([]byte{typeEndResponse, 1})
	pktEnd0  = fromServerPacket([]byte{typeEndResponse, 0})
)

func pktHeaders(status int, headers ...[]byte) []byte {
	return fromServerPacket(sendHeaders(status, ajpStr(strconv.Itoa(status)), len(headers), headers...))
}

func pktBody(data string) []byte {
	return fromServerPacket(wire(typeSendBodyChunk, ajpInt(len(data)), data, 0x00))
}

// bigBody is n bytes of body in the largest chunks an 8 KiB packet holds.
func bigBody(n int) []byte {
	var b []byte
	for n > 0 {
		k := min(n, DefaultPacketSize-8)
		b = append(b, pktBody(strings.Repeat("b", k))...)
		n -= k
	}
	return b
}

func pktGetBody(size int) []byte { return fromServerPacket(wire(typeGetBodyChunk, ajpInt(size))) }

func stream(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// Fuzz modes: bits 0-1 pick the request, bit 2 makes the container stall
// (time out) instead of closing at the end of the stream, bits 3-7 cap the
// size of each read (0 = no cap).
const (
	modeGET        = 0
	modeHEAD       = 1
	modePOST       = 2 // fuzzRequestBody, length known
	modePOSTChunks = 3 // same body, length unknown
	modeStall      = 4
)

const fuzzRequestBody = "name=value&other=thing&third=more-data"

func responseStreamSeeds() []fuzzSeed {
	ct := codedHdr(0xA001, "text/plain")
	cl := func(n int) []byte { return codedHdr(0xA003, strconv.Itoa(n)) }
	return []fuzzSeed{
		{"get-200-body-reuse", []any{stream(pktCPong, pktHeaders(200, ct, cl(5)), pktBody("hello"), pktEnd1), byte(modeGET)}},
		{"get-200-body-reuse-short-reads", []any{stream(pktCPong, pktHeaders(200, ct, cl(5)), pktBody("hello"), pktEnd1), byte(modeGET | 1<<3)}},
		{"get-200-chunks-flush-no-cl", []any{stream(pktCPong, pktHeaders(200, ct), pktBody("hel"), pktBody(""), pktBody("lo"), pktEnd1), byte(modeGET)}},
		{"get-200-no-reuse", []any{stream(pktCPong, pktHeaders(200, cl(2)), pktBody("ok"), pktEnd0), byte(modeGET)}},
		{"get-set-cookies", []any{stream(pktCPong, pktHeaders(200, codedHdr(0xA007, "a=1"), hdr("Set-Cookie", "b=2"), cl(0)), pktEnd1), byte(modeGET)}},
		{"get-body-chunk-before-headers", []any{stream(pktCPong, pktGetBody(8186), pktHeaders(200, cl(1)), pktBody("x"), pktEnd1), byte(modeGET)}},
		{"get-body-chunk-during-body", []any{stream(pktCPong, pktHeaders(200), pktBody("a"), pktGetBody(8186), pktBody("b"), pktEnd1), byte(modeGET)}},
		{"get-204", []any{stream(pktCPong, pktHeaders(204), pktEnd1), byte(modeGET)}},
		{"get-304-with-stray-body", []any{stream(pktCPong, pktHeaders(304), pktBody("stray"), pktEnd1), byte(modeGET)}},
		{"head-with-cl", []any{stream(pktCPong, pktHeaders(200, cl(100)), pktEnd1), byte(modeHEAD)}},
		{"get-403-secret-rejected", []any{stream(pktCPong, pktHeaders(403), pktEnd0), byte(modeGET)}},
		{"get-403-page", []any{stream(pktCPong, pktHeaders(403, cl(6)), pktBody("denied"), pktEnd1), byte(modeGET)}},
		{"get-403-page-no-reuse", []any{stream(pktCPong, pktHeaders(403, cl(6)), pktBody("denied"), pktEnd0), byte(modeGET)}},
		{"head-403-no-reuse", []any{stream(pktCPong, pktHeaders(403), pktEnd0), byte(modeHEAD)}},
		{"get-403-then-eof", []any{stream(pktCPong, pktHeaders(403)), byte(modeGET)}},
		{"get-body-shorter-than-cl", []any{stream(pktCPong, pktHeaders(200, cl(10)), pktBody("short"), pktEnd1), byte(modeGET)}},
		{"get-body-longer-than-cl", []any{stream(pktCPong, pktHeaders(200, cl(2)), pktBody("toolong"), pktEnd1), byte(modeGET)}},
		{"get-conflicting-cl", []any{stream(pktCPong, pktHeaders(200, cl(1), hdr("Content-Length", "2")), pktBody("x"), pktEnd1), byte(modeGET)}},
		{"get-chunk-overruns-packet", []any{stream(pktCPong, pktHeaders(200), fromServerPacket(wire(0x03, 0x00, 0x10, "abc")), pktEnd1), byte(modeGET)}},
		{"get-chunk-padding", []any{stream(pktCPong, pktHeaders(200), fromServerPacket(wire(0x03, 0x00, 0x02, "ab", 0, 0, 0, 0)), pktEnd1), byte(modeGET)}},
		{"get-tiny-chunk-packet", []any{stream(pktCPong, pktHeaders(200), fromServerPacket(wire(0x03)), pktEnd1), byte(modeGET)}},
		{"get-end-reuse-2", []any{stream(pktCPong, pktHeaders(200), fromServerPacket(wire(0x05, 0x02))), byte(modeGET)}},
		{"get-trailing-garbage", []any{stream(pktCPong, pktHeaders(200, cl(1)), pktBody("x"), pktEnd1, []byte("garbage")), byte(modeGET)}},
		{"get-truncated-mid-chunk", []any{stream(pktCPong, pktHeaders(200, cl(5)), pktBody("hello")[:8]), byte(modeGET)}},
		{"get-truncated-mid-chunk-stall", []any{stream(pktCPong, pktHeaders(200, cl(5)), pktBody("hello")[:8]), byte(modeGET | modeStall)}},
		{"get-no-end-stall", []any{stream(pktCPong, pktHeaders(200), pktBody("x")), byte(modeGET | modeStall)}},
		{"get-unexpected-cpong", []any{stream(pktCPong, pktHeaders(200), pktCPong, pktEnd1), byte(modeGET)}},
		{"get-second-headers", []any{stream(pktCPong, pktHeaders(200), pktHeaders(200), pktEnd1), byte(modeGET)}},
		{"get-oversize-packet", []any{stream(pktCPong, wire('A', 'B', 0x20, 0x00)), byte(modeGET)}},
		{"get-zero-length-packet", []any{stream(pktCPong, wire('A', 'B', 0x00, 0x00)), byte(modeGET)}},
		{"http-instead-of-ajp", []any{[]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), byte(modeGET)}},
		{"no-cpong", []any{stream(pktHeaders(200), pktEnd1), byte(modeGET)}},
		{"only-cpong", []any{pktCPong, byte(modeGET)}},
		{"only-cpong-stall", []any{pktCPong, byte(modeGET | modeStall)}},
		{"empty", []any{[]byte{}, byte(modeGET)}},
		{"post-known-length", []any{stream(pktCPong, pktGetBody(8186), pktHeaders(200, cl(2)), pktBody("ok"), pktEnd1), byte(modePOST)}},
		{"post-chunked-small-asks", []any{stream(pktCPong, pktGetBody(10), pktGetBody(10), pktGetBody(10), pktGetBody(10), pktGetBody(10),
			pktHeaders(201), pktEnd1), byte(modePOSTChunks)}},
		{"post-chunked-zero-ask", []any{stream(pktCPong, pktGetBody(0), pktGetBody(8186), pktHeaders(200), pktEnd1), byte(modePOSTChunks)}},
		{"post-answer-before-body", []any{stream(pktCPong, pktHeaders(200, cl(2)), pktBody("ok"), pktGetBody(8186), pktEnd1), byte(modePOSTChunks)}},
	}
}

// modelResult is what a correct client makes of a response stream to a
// request without a body, worked out packet by packet from the spec.
type modelResult struct {
	ok     bool
	status int
	header http.Header
	body   []byte
	reuse  bool
}

func modelExchange(in []byte, head bool) (m modelResult) {
	pos := 0
	next := func() ([]byte, bool) {
		if len(in)-pos < 4 {
			return nil, false
		}
		n, err := ParsePacketHeader(in[pos:pos+4], DefaultPacketSize)
		if err != nil || len(in)-pos-4 < n {
			return nil, false
		}
		p := in[pos+4 : pos+4+n]
		pos += 4 + n
		return p, true
	}
	if p, ok := next(); !ok || len(p) != 1 || p[0] != typeCPong {
		return m
	}
	var rh ResponseHead
	for {
		p, ok := next()
		if !ok {
			return m
		}
		if p[0] == typeGetBodyChunk {
			if _, err := ParseGetBodyChunk(p); err != nil {
				return m
			}
			continue
		}
		if p[0] != typeSendHeaders || ParseSendHeaders(p, &rh) != nil {
			return m
		}
		break
	}
	noBody := head || rh.Status == http.StatusNoContent || rh.Status == http.StatusNotModified
	cl := rh.ContentLength
	if noBody {
		cl = -1
	}
	var body []byte
	for {
		p, ok := next()
		if !ok {
			return m
		}
		switch p[0] {
		case typeSendBodyChunk:
			size, err := ParseBodyChunkLen(p, len(p))
			if err != nil {
				return m
			}
			body = append(body, p[3:3+size]...)
			if cl >= 0 && int64(len(body)) > cl {
				return m
			}
		case typeGetBodyChunk:
			if _, err := ParseGetBodyChunk(p); err != nil {
				return m
			}
		case typeEndResponse:
			reuse, err := ParseEndResponse(p)
			if err != nil || (cl >= 0 && int64(len(body)) != cl) {
				return m
			}
			// A 403 that ends with reuse=0 is Tomcat refusing the secret (or
			// a request attribute): an error, not a page for the client.
			// Only a 403 longer than any refusal page streams through.
			if rh.Status == http.StatusForbidden && !reuse && (noBody || len(body) < maxRejectionBody) {
				return m
			}
			if noBody {
				body = nil
			}
			return modelResult{ok: true, status: rh.Status, header: rh.Header, body: body, reuse: reuse}
		default:
			return m
		}
	}
}

// checkWrittenStream checks what the transport sent: CPING, one
// FORWARD_REQUEST, then request body packets carrying a prefix of body and
// nothing after the end-of-body packet.
func checkWrittenStream(t *testing.T, out []byte, body string, knownLength bool) {
	t.Helper()
	var pkts [][]byte
	for len(out) > 0 {
		if len(out) < 4 || out[0] != 0x12 || out[1] != 0x34 {
			t.Fatalf("transport wrote a malformed packet: % x", out[:min(len(out), 16)])
		}
		n := int(binary.BigEndian.Uint16(out[2:]))
		if len(out) < 4+n {
			t.Fatalf("transport wrote a truncated packet (%d of %d bytes)", len(out)-4, n)
		}
		if 4+n > DefaultPacketSize {
			t.Fatalf("transport wrote a packet of %d bytes", 4+n)
		}
		pkts = append(pkts, out[4:4+n])
		out = out[4+n:]
	}
	if len(pkts) == 0 {
		return
	}
	if !bytes.Equal(pkts[0], []byte{typeCPing}) {
		t.Fatalf("first packet is not CPING: % x", pkts[0])
	}
	if len(pkts) == 1 {
		return
	}
	if _, err := parseForwardRequestSafe(pkts[1]); err != nil {
		t.Fatalf("second packet is not a FORWARD_REQUEST: %v", err)
	}
	var sent []byte
	ended := false
	for _, p := range pkts[2:] {
		if len(p) == 0 {
			ended = true
			continue
		}
		if ended {
			t.Fatalf("body data sent after the end-of-body packet: % x", p[:min(len(p), 16)])
		}
		if len(p) < 2 || int(binary.BigEndian.Uint16(p)) != len(p)-2 {
			t.Fatalf("malformed body packet: % x", p[:min(len(p), 16)])
		}
		sent = append(sent, p[2:]...)
	}
	if !strings.HasPrefix(body, string(sent)) {
		t.Fatalf("request body sent %q is not a prefix of %q", sent, body)
	}
	if knownLength && len(sent) > len(body) {
		t.Fatalf("sent %d body bytes, Content-Length %d", len(sent), len(body))
	}
}

func FuzzResponseStream(f *testing.F) {
	// seeds: testdata/fuzz/<name>/, kept in sync with fuzzSeeds by TestFuzzSeedCorpus
	f.Fuzz(func(t *testing.T, in []byte, mode byte) {
		// Larger streams add nothing the seeds and
		// TestResponseStreamRejectionBoundary don't cover, and make the
		// fuzzer spend minutes minimizing them.
		if len(in) > 16<<10 {
			return
		}
		playResponseStream(t, in, mode)
	})
}

// A 403 is held back up to maxRejectionBody bytes to tell Tomcat's refusal
// (reuse=0) from a servlet's page; these streams sit on that boundary and
// are too big for a useful fuzz seed.
func TestResponseStreamRejectionBoundary(t *testing.T) {
	t.Run("64KiB-1 403 with reuse=0 is a refusal", func(t *testing.T) {
		playResponseStream(t, stream(pktCPong, pktHeaders(403), bigBody(maxRejectionBody-1), pktEnd0), modeGET)
	})
	t.Run("64KiB 403 with reuse=0 streams", func(t *testing.T) {
		playResponseStream(t, stream(pktCPong, pktHeaders(403), bigBody(maxRejectionBody), pktEnd0), modeGET)
	})
	t.Run("64KiB 403 with reuse=0 streams, short reads", func(t *testing.T) {
		playResponseStream(t, stream(pktCPong, pktHeaders(403), bigBody(maxRejectionBody), pktEnd0), modeGET|7<<3)
	})
}

// playResponseStream plays in as the container's side of one exchange
// through Transport.RoundTrip and checks what the transport made of it.
func playResponseStream(t *testing.T, in []byte, mode byte) {
	sc := &streamConn{in: in, chunk: int(mode >> 3), stall: mode&modeStall != 0}
	if sc.chunk == 0 {
		sc.chunk = 1 << 20
	}
	var dials sync.Mutex
	dialed := false
	tr := newTransport(t, func(tr *Transport) {
		*tr = Transport{
			InsecureNoSecret: true,
			ReadTimeout:      caddy.Duration(time.Second),
			PingTimeout:      caddy.Duration(time.Second),
			DialTimeout:      caddy.Duration(time.Second),
		}
	})
	tr.logger = zap.NewNop()
	tr.cfg.dial = func(context.Context, string, string) (net.Conn, error) {
		dials.Lock()
		defer dials.Unlock()
		if dialed {
			return nil, errors.New("fuzz: the stream serves one connection")
		}
		dialed = true
		return sc, nil
	}

	method, body := http.MethodGet, ""
	var reqBody io.Reader
	switch mode & 3 {
	case modeHEAD:
		method = http.MethodHead
	case modePOST, modePOSTChunks:
		method, body = http.MethodPost, fuzzRequestBody
		reqBody = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://backend.test:8009/app/page.jsp?q=1", reqBody)
	if err != nil {
		t.Fatal(err)
	}
	req.RemoteAddr = "192.0.2.10:50000"
	if mode&3 == modePOSTChunks {
		req.ContentLength = -1
		req.Body = io.NopCloser(strings.NewReader(body))
	}

	type outcome struct {
		resp    *http.Response
		rtErr   error
		body    []byte
		bodyErr error
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		o.resp, o.rtErr = tr.RoundTrip(req)
		if o.rtErr == nil {
			if o.resp == nil {
				panic("RoundTrip returned neither a response nor an error")
			}
			o.body, o.bodyErr = io.ReadAll(io.LimitReader(o.resp.Body, int64(len(in))+1))
			o.resp.Body.Close()
		}
		done <- o
	}()
	var o outcome
	select {
	case o = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("exchange hung (mode %#x)", mode)
	}

	if sc.ioWithoutDeadline != 0 {
		t.Fatalf("%d reads/writes without a deadline: a silent container would hang them", sc.ioWithoutDeadline)
	}
	if sc.off > len(in) {
		t.Fatalf("read %d bytes of a %d-byte stream", sc.off, len(in))
	}
	if sc.readsAfterEnd > 2 {
		t.Fatalf("kept reading after the end of the stream (%d reads)", sc.readsAfterEnd)
	}
	if len(o.body) > len(in) {
		t.Fatalf("response body of %d bytes from a %d-byte stream", len(o.body), len(in))
	}
	success := o.rtErr == nil && o.bodyErr == nil
	if success && o.resp.ContentLength >= 0 &&
		method != http.MethodHead && o.resp.StatusCode != http.StatusNoContent && o.resp.StatusCode != http.StatusNotModified &&
		int64(len(o.body)) != o.resp.ContentLength {
		t.Fatalf("body of %d bytes delivered as complete, Content-Length %d", len(o.body), o.resp.ContentLength)
	}
	checkWrittenStream(t, sc.out, body, mode&3 == modePOST)

	var m modelResult
	if mode&3 == modeGET || mode&3 == modeHEAD {
		m = modelExchange(in, method == http.MethodHead)
		if success != m.ok {
			t.Fatalf("transport success=%v (RoundTrip err %v, body err %v), spec model success=%v", success, o.rtErr, o.bodyErr, m.ok)
		}
		if success {
			if o.resp.StatusCode != m.status {
				t.Fatalf("status %d, model %d", o.resp.StatusCode, m.status)
			}
			if !reflect.DeepEqual(o.resp.Header, m.header) {
				t.Fatalf("headers %v, model %v", o.resp.Header, m.header)
			}
			if !bytes.Equal(o.body, m.body) {
				t.Fatalf("body %q, model %q", o.body, m.body)
			}
			// The connection is pooled exactly when the container allowed reuse.
			if sc.isClosed() == m.reuse {
				t.Fatalf("connection closed=%v after END_RESPONSE reuse=%v", sc.isClosed(), m.reuse)
			}
		}
	}
	if !success && !sc.isClosed() {
		t.Fatal("connection of a failed exchange left open")
	}

	tr.Cleanup()
	if !sc.isClosed() {
		t.Fatal("connection still open after Cleanup")
	}
	tr.poolsMu.RLock()
	defer tr.poolsMu.RUnlock()
	for _, p := range tr.pools {
		p.mu.Lock()
		open, idle := p.open, len(p.idle)
		p.mu.Unlock()
		if open != 0 || idle != 0 {
			t.Fatalf("pool holds %d open, %d idle connections after Cleanup", open, idle)
		}
	}
}

package ajptransport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/ajp"
	"github.com/caddy-ajp/caddy-ajp/ajptransport/internal/ajpspec"
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// The named seeds of FuzzResponseStream are the committed corpus under
// testdata/fuzz/; go test runs them as regression cases. After changing a
// seed, rewrite the files with
//
//	go test ./ajptransport -run TestFuzzSeedCorpus -update-fuzz-seeds
//
// The codec's own fuzz targets are in ajp/.
var updateFuzzSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite the named fuzz seed files under testdata/fuzz")

type fuzzSeed struct {
	name string
	args []any
}

func TestFuzzSeedCorpus(t *testing.T) {
	var seeds []ajpspec.Seed
	for _, s := range responseStreamSeeds() {
		seeds = append(seeds, ajpspec.Seed{Name: s.name, Args: s.args})
	}
	ajpspec.CheckCorpus(t, map[string][]ajpspec.Seed{"FuzzResponseStream": seeds}, *updateFuzzSeeds)
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
	pktCPong = fromServerPacket([]byte{ajp.TypeCPong})
	pktEnd1  = fromServerPacket([]byte{ajp.TypeEndResponse, 1})
	pktEnd0  = fromServerPacket([]byte{ajp.TypeEndResponse, 0})
)

func pktHeaders(status int, headers ...[]byte) []byte {
	return fromServerPacket(sendHeaders(status, ajpStr(strconv.Itoa(status)), len(headers), headers...))
}

func pktBody(data string) []byte {
	return fromServerPacket(wire(ajp.TypeSendBodyChunk, ajpInt(len(data)), data, 0x00))
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

func pktGetBody(size int) []byte { return fromServerPacket(wire(ajp.TypeGetBodyChunk, ajpInt(size))) }

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
		n, err := ajp.ParsePacketHeader(in[pos:pos+4], DefaultPacketSize)
		if err != nil || len(in)-pos-4 < n {
			return nil, false
		}
		p := in[pos+4 : pos+4+n]
		pos += 4 + n
		return p, true
	}
	if p, ok := next(); !ok || len(p) != 1 || p[0] != ajp.TypeCPong {
		return m
	}
	var rh ajp.ResponseHead
	for {
		p, ok := next()
		if !ok {
			return m
		}
		if p[0] == ajp.TypeGetBodyChunk {
			if _, err := ajp.ParseGetBodyChunk(p); err != nil {
				return m
			}
			continue
		}
		if p[0] != ajp.TypeSendHeaders || ajp.ParseSendHeaders(p, &rh) != nil {
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
		case ajp.TypeSendBodyChunk:
			size, err := ajp.ParseBodyChunkLen(p, len(p))
			if err != nil {
				return m
			}
			body = append(body, p[3:3+size]...)
			if cl >= 0 && int64(len(body)) > cl {
				return m
			}
		case ajp.TypeGetBodyChunk:
			if _, err := ajp.ParseGetBodyChunk(p); err != nil {
				return m
			}
		case ajp.TypeEndResponse:
			reuse, err := ajp.ParseEndResponse(p)
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
	if !bytes.Equal(pkts[0], []byte{ajp.TypeCPing}) {
		t.Fatalf("first packet is not CPING: % x", pkts[0])
	}
	if len(pkts) == 1 {
		return
	}
	if _, err := ajpspec.ParseForwardRequestSafe(pkts[1]); err != nil {
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
	// an answer the transport made itself (an unrelayable response, a
	// refused secret) is a failed exchange too: nothing of the backend's
	// response reached the client
	_, answeredByTransport := func() (refusalBody, bool) {
		if o.resp == nil {
			return refusalBody{}, false
		}
		b, ok := o.resp.Body.(refusalBody)
		return b, ok
	}()
	success := o.rtErr == nil && o.bodyErr == nil && !answeredByTransport
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

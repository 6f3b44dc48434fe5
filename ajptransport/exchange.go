package ajptransport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddy-ajp/caddy-ajp/internal/tomcatpath"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

// errSecretRejected is what Tomcat's 403-and-close after a FORWARD_REQUEST
// means: the secret did not match, or it refused a request attribute.
var errSecretRejected = errors.New("Tomcat refused the request with 403 and closed the connection: " +
	"the AJP secret does not match the connector's `secret`, or a request_attribute is not allowed " +
	"by its allowedRequestAttributesPattern")

// errClientBody marks a failure to read the request body from the client.
// It wraps context.Canceled so reverse_proxy neither retries the request
// nor counts the failure against the backend: the client went away.
var errClientBody = fmt.Errorf("reading the request body from the client: %w", context.Canceled)

// exchange is one request/response conversation on one connection.
type exchange struct {
	t    *Transport
	c    *conn
	addr string
	ctx  context.Context
	stop func() bool // stops the context watcher

	wbuf *[]byte

	body       io.Reader // the client's request body, nil when none
	bodyLeft   int64     // bytes still to send when the length is known, else -1
	bodyDone   bool      // the end of the body has been seen
	bodyClient bool      // a client-side read error happened

	gotPacket bool // any packet came back from the container

	fr    ForwardRequest
	hdrs  [24]Header
	attrs [6]Attribute
	resp  http.Response

	// response body state
	chunkLeft int   // data bytes of the current SEND_BODY_CHUNK still unread
	padLeft   int   // bytes after the chunk data in its packet
	respCL    int64 // declared Content-Length, -1 when absent
	respRead  int64
	done      bool
	reuse     bool      // END_RESPONSE allowed reuse
	dlSet     time.Time // when the connection's deadline was last moved

	pre         []byte     // prefetched body bytes, served first
	prefetching bool       // reading ahead before the headers are handed on
	sawFlush    bool       // a flush came while prefetching
	mu          sync.Mutex // Read vs Close from different goroutines
}

// RoundTrip sends r to the AJP backend and returns its response, whose body
// streams from the backend as it arrives.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if up := r.Header.Get("Upgrade"); up != "" {
		t.logger.Debug("refusing protocol upgrade over AJP", zap.String("upgrade", up))
		return refuse(r, http.StatusNotImplemented,
			"AJP cannot carry protocol upgrades (Upgrade: "+up+"); proxy this path to the member's HTTP connector instead"), nil
	}
	network, addr := "tcp", r.URL.Host
	if di, ok := reverseproxy.GetDialInfo(r.Context()); ok {
		network, addr = di.Network, di.Address
	}

	// One allocation holds the request's encoding state and the response.
	ex := &exchange{t: t, addr: addr, ctx: r.Context(), respCL: -1, bodyLeft: -1}
	fr := &ex.fr
	fr.Headers, fr.ReqAttributes = ex.hdrs[:0], ex.attrs[:0]
	t.buildForwardRequest(r, fr)

	// Tomcat removes ";parameters" and percent-decodes before it resolves
	// dot-segments: "/share/..;/manager" is "/manager" to it, whatever a
	// matcher in front decided. Such a request never reaches Tomcat.
	if err := tomcatpath.Check(fr.RequestURI); err != nil {
		t.logger.Warn("refusing a path that Tomcat would resolve differently than Caddy matched it; answered 400",
			zap.String("upstream", addr), zap.String("path", fr.RequestURI), zap.Error(err))
		return refuse(r, http.StatusBadRequest, "bad request path: "+err.Error()), nil
	}

	// Tomcat's AJP connector answers 500 to more than maxHeaderCount (100)
	// headers; a client that sends that many gets a 400 that says so.
	if len(fr.Headers) > maxTomcatHeaders {
		t.logger.Warn("too many request headers for Tomcat's AJP connector; answered 400",
			zap.String("upstream", addr), zap.Int("headers", len(fr.Headers)), zap.Int("limit", maxTomcatHeaders))
		return refuse(r, http.StatusBadRequest, fmt.Sprintf(
			"too many request headers: %d, Tomcat accepts at most %d", len(fr.Headers), maxTomcatHeaders)), nil
	}

	wbuf := t.getBuf()
	b, err := AppendForwardRequest((*wbuf)[:0], fr, t.PacketSize)
	if err != nil {
		t.putBuf(wbuf)
		if errors.Is(err, ErrPacketTooLarge) {
			t.logger.Warn("request headers do not fit in one AJP packet; answered 400",
				zap.String("upstream", addr),
				zap.Int("packet_size", t.PacketSize),
				zap.String("remedy", "raise packet_size in the ajp transport and packetSize on Tomcat's AJP connector to the same value (at most 65536)"))
			return refuse(r, http.StatusBadRequest, fmt.Sprintf(
				"request headers too large: they do not fit in one AJP packet of %d bytes", t.PacketSize)), nil
		}
		return nil, caddyhttp.Error(http.StatusBadRequest, err)
	}

	ex.wbuf = wbuf
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		ex.body = r.Body
		ex.bodyLeft = r.ContentLength // -1 when unknown
	} else {
		ex.bodyDone = true
	}
	// With a known length, the first body packet goes along unrequested.
	// Read it before taking a connection, so a slow client holds none.
	if ex.bodyLeft > 0 {
		n := int(min(ex.bodyLeft, int64(t.PacketSize-maxBodyChunkDelta)))
		start := len(b)
		b = appendBodyChunkHeader(b, n)
		b = b[:len(b)+n]
		if _, err := io.ReadFull(ex.body, b[start+6:]); err != nil {
			ex.release()
			return t.clientBodyError(r, addr, err)
		}
		ex.bodyLeft -= int64(n)
		if ex.bodyLeft == 0 {
			ex.bodyDone = true
		}
	}
	*wbuf = b

	pool := t.pool(network, addr)
	for attempt := 0; ; attempt++ {
		c, reused, err := pool.get(r.Context())
		if err != nil {
			ex.release()
			if ctxErr := r.Context().Err(); ctxErr != nil {
				return nil, ctxErr
			}
			t.logger.Error("cannot connect to AJP backend", zap.String("upstream", addr), zap.Error(err))
			return nil, reverseproxy.NewDialError(fmt.Errorf("connecting to AJP backend %s: %w", addr, err))
		}
		ex.c = c
		ex.gotPacket, ex.done, ex.dlSet = false, false, time.Time{}
		ex.stop = context.AfterFunc(r.Context(), c.abort)
		resp, err := ex.start(r)
		if err == nil {
			return resp, nil
		}
		ex.discard()
		// A pooled connection the container closed while idle fails before
		// anything came back; an idempotent request without a body is
		// safe to send again on a new connection.
		if reused && attempt == 0 && ex.wbuf != nil && !ex.gotPacket && ex.body == nil && idempotent(r.Method) && isConnReset(err) {
			t.logger.Debug("pooled AJP connection was closed by the backend; retrying on a new one", zap.String("upstream", addr))
			continue
		}
		ex.release()
		return t.failed(r, addr, err)
	}
}

// start writes the request and reads until the response headers.
func (ex *exchange) start(r *http.Request) (*http.Response, error) {
	c := ex.c
	if err := ex.deadline(); err != nil {
		return nil, err
	}
	if _, err := c.nc.Write(*ex.wbuf); err != nil {
		return nil, fmt.Errorf("sending FORWARD_REQUEST: %w", err)
	}
	for {
		n, err := ex.readHeader(true)
		if err != nil {
			return nil, err
		}
		if err := ex.c.readPayload(n); err != nil {
			return nil, err
		}
		p := c.rbuf[:n]
		switch p[0] {
		case typeSendHeaders:
			return ex.response(r, p)
		case typeGetBodyChunk:
			if err := ex.sendBodyChunk(p); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: unexpected message type %d before the response headers", ErrProtocol, p[0])
		}
	}
}

// response builds the http.Response from SEND_HEADERS.
func (ex *exchange) response(r *http.Request, p []byte) (*http.Response, error) {
	var head ResponseHead
	if err := ParseSendHeaders(p, &head); err != nil {
		return nil, err
	}
	ex.respCL = head.ContentLength
	resp := &ex.resp
	*resp = http.Response{
		Status:        statusLine(head.Status),
		StatusCode:    head.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        head.Header,
		ContentLength: head.ContentLength,
		Request:       r,
		Body:          ex,
	}
	if r.Method == http.MethodHead || head.Status == http.StatusNoContent || head.Status == http.StatusNotModified {
		// No body follows; finish the exchange now so the connection goes
		// back to the pool before the client has even seen the headers.
		ex.respCL = -1
		if _, err := io.Copy(io.Discard, ex); err != nil {
			return nil, err
		}
		resp.Body = http.NoBody
	}
	if head.Status == http.StatusForbidden {
		return ex.checkRejection(resp)
	}
	if resp.Body == ex {
		return ex.prefetch(resp)
	}
	return resp, nil
}

// maxPrefetch bounds how much of a response is read before its headers
// are handed on.
const maxPrefetch = 16 << 10

var prefetchPool = sync.Pool{New: func() any { b := make([]byte, maxPrefetch); return &b }}

// prefetch reads what Tomcat sends right after the headers, until the end
// of the response, a flush, or maxPrefetch bytes. A node that dies in that
// window then costs an error that reverse_proxy can retry elsewhere (for a
// GET), not a response cut off after its status was sent; streaming is
// unaffected because Tomcat flushes (a zero-length chunk) whenever a
// servlet does.
func (ex *exchange) prefetch(resp *http.Response) (*http.Response, error) {
	bp := prefetchPool.Get().(*[]byte)
	defer prefetchPool.Put(bp)
	buf := *bp
	n := 0
	var err error
	ex.prefetching = true
	for n < len(buf) && !ex.sawFlush {
		var m int
		m, err = ex.Read(buf[n:])
		n += m
		if err != nil {
			break
		}
	}
	ex.prefetching = false
	switch {
	case err == io.EOF && n == 0: // the whole (empty) response is here
		resp.Body = http.NoBody
	case err != nil && err != io.EOF:
		return nil, err
	default: // Read serves the prefetched bytes first
		ex.pre = append([]byte(nil), buf[:n]...)
	}
	return resp, nil
}

// maxRejectionBody bounds how much of a 403 is held back to tell Tomcat's
// refusal of the secret from a servlet's 403.
const maxRejectionBody = 64 << 10

// checkRejection holds back a 403 until its end: Tomcat refuses a wrong
// secret (or a request attribute it does not allow) with a 403 error page
// that ends with reuse=0, which a servlet's own 403 never does.
func (ex *exchange) checkRejection(resp *http.Response) (*http.Response, error) {
	if resp.Body == http.NoBody {
		if !ex.reuse {
			return nil, errSecretRejected
		}
		return resp, nil
	}
	var buf bytes.Buffer
	_, err := io.CopyN(&buf, ex, maxRejectionBody)
	switch {
	case err == io.EOF:
		if !ex.reuse {
			return nil, errSecretRejected
		}
		resp.Body = io.NopCloser(&buf)
	case err != nil:
		return nil, err
	default: // larger than any refusal page: stream the rest
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(&buf, ex), ex}
	}
	return resp, nil
}

// Read streams the response body, answering GET_BODY_CHUNK on the way.
func (ex *exchange) Read(p []byte) (int, error) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if len(ex.pre) > 0 {
		n := copy(p, ex.pre)
		ex.pre = ex.pre[n:]
		return n, nil
	}
	if ex.done {
		return 0, io.EOF
	}
	n, err := ex.read(p)
	if err != nil && err != io.EOF {
		ex.discard()
		ex.release()
		if ex.bodyClient {
			return n, err
		}
		return n, ex.t.logBodyError(ex, err)
	}
	return n, err
}

func (ex *exchange) read(p []byte) (int, error) {
	c := ex.c
	n := 0 // bytes put in p; once there are some, only what is buffered is taken, never waited for
	for {
		if ex.chunkLeft > 0 {
			if n == len(p) {
				return n, nil
			}
			want := min(len(p)-n, ex.chunkLeft)
			if n > 0 {
				if want = min(want, c.br.Buffered()); want == 0 {
					return n, nil
				}
			} else if err := ex.deadline(); err != nil {
				return 0, err
			}
			m, err := c.br.Read(p[n : n+want])
			n += m
			ex.chunkLeft -= m
			ex.respRead += int64(m)
			if ex.respCL >= 0 && ex.respRead > ex.respCL {
				return 0, fmt.Errorf("%w: response body longer than its Content-Length %d", ErrProtocol, ex.respCL)
			}
			if err != nil {
				return n, noEOF(err)
			}
			continue
		}
		if ex.padLeft > 0 {
			if n > 0 && c.br.Buffered() < ex.padLeft {
				return n, nil
			}
			if _, err := c.br.Discard(ex.padLeft); err != nil {
				return n, noEOF(err)
			}
			ex.padLeft = 0
		}
		if n > 0 && !ex.nextBuffered() {
			return n, nil // deliver what we have; the rest may take time
		}
		pn, err := ex.readHeader(n == 0)
		if err != nil {
			return n, err
		}
		typ, err := c.br.Peek(1)
		if err != nil {
			return n, noEOF(err)
		}
		switch typ[0] {
		case typeSendBodyChunk:
			h, err := c.br.Peek(3)
			if err != nil {
				return n, noEOF(err)
			}
			size, err := ParseBodyChunkLen(h, pn)
			if err != nil {
				return n, err
			}
			_, _ = c.br.Discard(3)
			// a zero-length chunk is Tomcat's flush: what came before it is
			// returned by now (the loop below stops at a packet not yet here)
			ex.chunkLeft, ex.padLeft = size, pn-3-size
			if size == 0 && ex.prefetching {
				ex.sawFlush = true
				return n, nil
			}
		case typeGetBodyChunk:
			if err := ex.c.readPayload(pn); err != nil {
				return n, err
			}
			if err := ex.sendBodyChunk(c.rbuf[:pn]); err != nil {
				return n, err
			}
		case typeEndResponse:
			if err := ex.c.readPayload(pn); err != nil {
				return n, err
			}
			reuse, err := ParseEndResponse(c.rbuf[:pn])
			if err != nil {
				return n, err
			}
			if ex.respCL >= 0 && ex.respRead != ex.respCL {
				return n, fmt.Errorf("%w: response body of %d bytes is shorter than its Content-Length %d", ErrProtocol, ex.respRead, ex.respCL)
			}
			ex.reuse = reuse
			ex.finish(reuse)
			return n, io.EOF
		default:
			return n, fmt.Errorf("%w: unexpected message type %d in the response body", ErrProtocol, typ[0])
		}
	}
}

// nextBuffered reports whether the next packet can be taken without
// waiting: a body chunk whose header is here, or a whole END_RESPONSE.
// GET_BODY_CHUNK never is: answering it may wait for the client.
func (ex *exchange) nextBuffered() bool {
	br := ex.c.br
	if br.Buffered() < packetHeaderLen+3 {
		return false
	}
	h, _ := br.Peek(packetHeaderLen + 3)
	if h[0] != prefixFromServer1 || h[1] != prefixFromServer2 {
		return false // let the blocking path report it
	}
	switch h[4] {
	case typeSendBodyChunk:
		return true
	case typeEndResponse:
		return br.Buffered() >= packetHeaderLen+int(h[2])<<8|int(h[3])
	}
	return false
}

// Close ends the exchange. A response not read to its end leaves the
// connection in an unknown state, so it is closed, never reused.
func (ex *exchange) Close() error {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if !ex.done {
		ex.discard()
	}
	ex.release()
	return nil
}

// sendBodyChunk answers GET_BODY_CHUNK with up to the requested number of
// body bytes, or with the empty end-of-body packet.
func (ex *exchange) sendBodyChunk(p []byte) error {
	size, err := ParseGetBodyChunk(p)
	if err != nil {
		return err
	}
	max := ex.t.PacketSize - maxBodyChunkDelta
	if size <= 0 || size > max {
		size = max
	}
	buf := (*ex.wbuf)[:6+size]
	n := 0
	if !ex.bodyDone {
		want := size
		if ex.bodyLeft >= 0 {
			want = int(min(int64(want), ex.bodyLeft))
		}
		for want > 0 && (n == 0 || ex.bodyLeft >= 0 && n < want) {
			// A body of known length is there to be read: fill the chunk,
			// so Tomcat needs as few GET_BODY_CHUNK round trips as possible
			// (Go's server hands it out in 4 KiB pieces). A streamed body
			// goes on as it arrives.
			m, rerr := ex.body.Read(buf[6+n : 6+want])
			n += m
			if rerr == io.EOF {
				if ex.bodyLeft > int64(n) {
					ex.bodyClient = true
					return fmt.Errorf("%w: %w", errClientBody, io.ErrUnexpectedEOF)
				}
				ex.bodyDone = true
				break
			}
			if rerr != nil {
				ex.bodyClient = true
				return fmt.Errorf("%w: %w", errClientBody, rerr)
			}
		}
		if ex.bodyLeft >= 0 {
			ex.bodyLeft -= int64(n)
			if ex.bodyLeft == 0 {
				ex.bodyDone = true
			}
		}
	}
	out := AppendBodyChunk(buf[:0], buf[6:6+n])
	if err := ex.deadline(); err != nil {
		return err
	}
	if _, err := ex.c.nc.Write(out); err != nil {
		return fmt.Errorf("sending request body: %w", err)
	}
	return nil
}

func (ex *exchange) readHeader(mayBlock bool) (int, error) {
	if mayBlock {
		if err := ex.deadline(); err != nil {
			return 0, err
		}
	}
	n, err := ex.c.readHeader()
	if err != nil {
		return 0, err
	}
	ex.gotPacket = true
	return n, nil
}

// deadline bounds the next read or write by read_timeout. Moving a
// connection's deadline costs timer work, so it is moved at most every
// 1/16 of read_timeout (1 s at most); the bound is that much looser. A
// cancelled request keeps its connection's deadline in the past.
func (ex *exchange) deadline() error {
	now := time.Now()
	rt := time.Duration(ex.t.ReadTimeout)
	if !ex.dlSet.IsZero() && now.Sub(ex.dlSet) < min(rt/16, time.Second) {
		return nil
	}
	if err := ex.c.nc.SetDeadline(now.Add(rt)); err != nil {
		return err
	}
	ex.dlSet = now
	if err := ex.ctx.Err(); err != nil {
		// the cancellation hook may have run before the deadline above
		// replaced its own: put it back
		_ = ex.c.nc.SetDeadline(aLongTimeAgo)
		return err
	}
	return nil
}

// finish ends a clean exchange: the connection goes back to the pool when
// the container allows reuse and no cancellation touched it.
func (ex *exchange) finish(reuse bool) {
	ex.done = true
	watcherFired := !ex.stop()
	if reuse && !watcherFired && !ex.t.closed.Load() {
		ex.c.pool.put(ex.c)
	} else {
		ex.c.pool.discard(ex.c)
	}
	ex.c = nil
	ex.release()
}

// release returns the write buffer to the pool, once.
func (ex *exchange) release() {
	if ex.wbuf != nil {
		ex.t.putBuf(ex.wbuf)
		ex.wbuf = nil
	}
}

// discard closes the connection of a failed or abandoned exchange.
func (ex *exchange) discard() {
	if ex.c == nil {
		return
	}
	ex.done = true
	ex.stop()
	ex.c.pool.discard(ex.c)
	ex.c = nil
}

// exchangeError maps a failed exchange to what reverse_proxy should answer,
// and logs the cause with the upstream.
func (t *Transport) exchangeError(r *http.Request, addr string, err error) error {
	if ctxErr := r.Context().Err(); ctxErr != nil || errors.Is(err, errClientBody) {
		t.logger.Debug("client went away during the AJP exchange", zap.String("upstream", addr), zap.Error(err))
		if ctxErr != nil {
			return ctxErr
		}
		return err
	}
	status := http.StatusBadGateway
	msg := "AJP exchange failed"
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		status = http.StatusGatewayTimeout
		msg = "AJP backend did not answer within read_timeout"
	case errors.Is(err, errSecretRejected):
		msg = "AJP backend rejected the secret"
	case errors.Is(err, ErrProtocol):
		msg = "AJP protocol error"
	}
	t.logger.Error(msg, zap.String("upstream", addr), zap.Int("status", status), zap.Error(err))
	return caddyhttp.Error(status, fmt.Errorf("%s (upstream %s): %w", msg, addr, err))
}

// logBodyError logs a failure while streaming the response body; the
// client's connection is then cut, as the status is already sent.
func (t *Transport) logBodyError(ex *exchange, err error) error {
	if ex.ctx.Err() != nil {
		return ex.ctx.Err()
	}
	t.logger.Error("AJP response body failed", zap.String("upstream", ex.addr), zap.Error(err))
	return err
}

func (t *Transport) clientBodyError(r *http.Request, addr string, err error) (*http.Response, error) {
	return t.failed(r, addr, fmt.Errorf("%w: %w", errClientBody, err))
}

// failed answers a request whose exchange failed before a response: the
// client's own faults (a body over request_body's limit, broken chunked
// framing) directly, without counting against the backend; the rest as
// reverse_proxy errors.
func (t *Transport) failed(r *http.Request, addr string, err error) (*http.Response, error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return refuse(r, http.StatusRequestEntityTooLarge, "request body too large"), nil
	case r.Context().Err() == nil && malformedBody(err):
		t.logger.Debug("malformed request body", zap.String("upstream", addr), zap.Error(err))
		return refuse(r, http.StatusBadRequest, "malformed request body"), nil
	}
	return nil, t.exchangeError(r, addr, err)
}

// refuse answers the client directly, without an error that would count
// against the backend's health: the request, not the backend, is at fault.
func refuse(r *http.Request, status int, reason string) *http.Response {
	body := reason + "\n"
	return &http.Response{
		Status:     statusLine(status),
		StatusCode: status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":           {"text/plain; charset=utf-8"},
			"X-Content-Type-Options": {"nosniff"},
		},
		ContentLength: int64(len(body)),
		Body:          io.NopCloser(strings.NewReader(body)),
		Request:       r,
	}
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// isConnReset reports errors of a connection the peer has closed.
func isConnReset(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

var aLongTimeAgo = time.Unix(1, 0)

// statusLines holds "200 OK" and the like, so responses don't build them.
var statusLines = func() (m [600]string) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			m[code] = strconv.Itoa(code) + " " + text
		}
	}
	return
}()

func statusLine(code int) string {
	if code < len(statusLines) && statusLines[code] != "" {
		return statusLines[code]
	}
	return strconv.Itoa(code)
}

// maxTomcatHeaders is the default maxHeaderCount of Tomcat's connectors.
const maxTomcatHeaders = 100

// malformedBody reports a client body error that is the client's protocol
// violation (bad chunked framing), not a disconnect.
func malformedBody(err error) bool {
	var ne net.Error
	return errors.Is(err, errClientBody) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) &&
		!errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrBodyReadAfterClose)
}

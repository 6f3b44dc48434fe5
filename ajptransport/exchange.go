package ajptransport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/ajp"
)

// This file is the conversation of one request on one connection: send
// FORWARD_REQUEST, answer GET_BODY_CHUNK with the request body, read
// SEND_HEADERS. The response body then streams in body.go.

// exchange is one request/response conversation on one connection.
type exchange struct {
	t       *Transport
	c       *conn
	network string
	addr    string
	ctx     context.Context
	stop    func() bool // stops the context watcher

	wbuf *[]byte

	body       io.Reader // the client's request body, nil when none
	bodyLeft   int64     // bytes still to send when the length is known, else -1
	bodyUnread int64     // bytes not yet read from the client when the length is known, else -1
	ahead      []byte    // body bytes read from the client, not yet sent
	aheadErr   error     // what the client's body said after ahead, given once ahead is used up
	aheadBuf   *[]byte   // holds ahead; from aheadPool
	bodySent   int64     // request body bytes sent, for /metrics
	bodyDone   bool      // the end of the body has been seen
	bodyClient bool      // a client-side read error happened

	gotPacket bool // any packet came back from the container

	fr    ajp.ForwardRequest
	hdrs  [24]ajp.Header
	attrs [6]ajp.Attribute
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
	preBuf      *[]byte    // holds pre; from prefetchPool
	prefetching bool       // reading ahead before the headers are handed on
	sawFlush    bool       // a flush came while prefetching
	mu          sync.Mutex // Read vs Close from different goroutines
}

// run sends the prepared request on c and reads until the response
// headers; the body then streams through Read.
func (ex *exchange) run(c *conn, r *http.Request) (*http.Response, error) {
	ex.c = c
	ex.gotPacket, ex.done, ex.dlSet = false, false, time.Time{}
	ex.stop = context.AfterFunc(r.Context(), c.abort)
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
		case ajp.TypeSendHeaders:
			return ex.response(r, p)
		case ajp.TypeGetBodyChunk:
			if err := ex.sendBodyChunk(p); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: unexpected message type %d before the response headers", ajp.ErrProtocol, p[0])
		}
	}
}

// response builds the http.Response from SEND_HEADERS.
func (ex *exchange) response(r *http.Request, p []byte) (*http.Response, error) {
	var head ajp.ResponseHead
	if err := ajp.ParseSendHeaders(p, &head); err != nil {
		return nil, err
	}
	ex.respCL = head.ContentLength
	ex.c.pool.st.response(head.Status)
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
		prefetchPool.Put(bp)
		resp.Body = http.NoBody
	case err != nil && err != io.EOF:
		prefetchPool.Put(bp)
		return nil, err
	default: // Read serves the prefetched bytes first, from the buffer itself
		ex.pre, ex.preBuf = buf[:n], bp
	}
	return resp, nil
}

// dropPre gives the prefetch buffer back once its bytes are read, or the
// body is closed before.
func (ex *exchange) dropPre() {
	if ex.preBuf != nil {
		prefetchPool.Put(ex.preBuf)
		ex.preBuf = nil
	}
	ex.pre = nil
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
			return nil, ex.rejected()
		}
		return resp, nil
	}
	var buf bytes.Buffer
	_, err := io.CopyN(&buf, ex, maxRejectionBody)
	switch {
	case err == io.EOF:
		if !ex.reuse {
			return nil, ex.rejected()
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

// rejected names Tomcat's refusal by whether a secret was sent.
func (ex *exchange) rejected() error {
	if ex.fr.Secret == "" {
		return errNoSecretRejected
	}
	return errSecretRejected
}

// sendBodyChunk answers GET_BODY_CHUNK with up to the requested number of
// body bytes, or with the empty end-of-body packet.
func (ex *exchange) sendBodyChunk(p []byte) error {
	size, err := ajp.ParseGetBodyChunk(p)
	if err != nil {
		return err
	}
	max := ex.t.PacketSize - ajp.BodyChunkOverhead
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
			m, rerr := ex.readBody(buf[6+n : 6+want])
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
	ex.bodySent += int64(n)
	out := ajp.AppendBodyChunk(buf[:0], buf[6:6+n])
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
	if ex.gotPacket {
		// the node's last packet has just been taken: it is alive (this
		// clock reading serves both, the hot path reads it once)
		ex.c.pool.sawPacket(now.UnixNano())
	}
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
	ex.c.pool.st.bytes(ex.bodySent, ex.respRead)
	watcherFired := !ex.stop()
	if reuse && !watcherFired && !ex.t.closed.Load() {
		ex.c.pool.put(ex.c)
	} else {
		ex.c.pool.discard(ex.c)
	}
	ex.c = nil
	ex.release()
}

// release returns the buffers to their pools, once.
func (ex *exchange) release() {
	if ex.wbuf != nil {
		ex.t.putBuf(ex.wbuf)
		ex.wbuf = nil
	}
	if ex.aheadBuf != nil {
		aheadPool.Put(ex.aheadBuf)
		ex.aheadBuf, ex.ahead = nil, nil
	}
}

// aheadSize is the most request body one read from the client takes.
// Tomcat asks for the body a packet at a time (GET_BODY_CHUNK); a read
// takes whatever the client has already sent, up to this, and the next
// requests are answered from it without reading the client again: fewer
// reads of the client's connection, and for HTTP/2 fewer WINDOW_UPDATEs.
// A read waits only when nothing at all has arrived, as one for a single
// packet would, and nothing reaches Tomcat before it asks for it.
const aheadSize = 64 << 10

var aheadPool = sync.Pool{New: func() any { b := make([]byte, aheadSize); return &b }}

// readBody reads the client's request body into p: what an earlier read
// took ahead first, else one read of up to aheadSize.
func (ex *exchange) readBody(p []byte) (int, error) {
	if len(ex.ahead) > 0 {
		n := copy(p, ex.ahead)
		ex.ahead = ex.ahead[n:]
		return n, nil
	}
	if err := ex.aheadErr; err != nil {
		ex.aheadErr = nil
		return 0, err
	}
	limit := int64(aheadSize)
	if ex.bodyUnread >= 0 {
		limit = min(limit, ex.bodyUnread)
	}
	if limit <= int64(len(p)) { // the rest fits: no copy
		return ex.readClient(p)
	}
	if ex.aheadBuf == nil {
		ex.aheadBuf = aheadPool.Get().(*[]byte)
	}
	buf := (*ex.aheadBuf)[:limit]
	m, err := ex.readClient(buf)
	n := copy(p, buf[:m])
	ex.ahead = buf[n:m]
	if err != nil && len(ex.ahead) > 0 {
		ex.aheadErr, err = err, nil
	}
	return n, err
}

// readClient is one read of the client's body, counted against its length
// when that is known.
func (ex *exchange) readClient(p []byte) (int, error) {
	n, err := ex.body.Read(p)
	if ex.bodyUnread >= 0 {
		ex.bodyUnread -= int64(n)
	}
	return n, err
}

// bodyReader reads the client's body through the exchange's read-ahead
// (readBody), for io.ReadFull.
type bodyReader struct{ ex *exchange }

func (b bodyReader) Read(p []byte) (int, error) { return b.ex.readBody(p) }

// discard closes the connection of a failed or abandoned exchange.
func (ex *exchange) discard() {
	if ex.c == nil {
		return
	}
	ex.done = true
	ex.stop()
	ex.c.pool.st.bytes(ex.bodySent, ex.respRead)
	ex.c.pool.discard(ex.c)
	ex.c = nil
}

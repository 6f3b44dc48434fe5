package ajptransport

import (
	"fmt"
	"io"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/ajp"
)

// This file streams the response body: SEND_BODY_CHUNK packets become the
// bytes of http.Response.Body, GET_BODY_CHUNK is answered on the way, and
// END_RESPONSE ends the exchange and hands the connection back.

// Read streams the response body, answering GET_BODY_CHUNK on the way.
func (ex *exchange) Read(p []byte) (int, error) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if len(ex.pre) > 0 {
		n := copy(p, ex.pre)
		ex.pre = ex.pre[n:]
		if len(ex.pre) == 0 {
			ex.dropPre()
		}
		return n, nil
	}
	if ex.done {
		return 0, io.EOF
	}
	n, err := ex.read(p)
	if err != nil && err != io.EOF {
		ex.discard()
		ex.release()
		if ex.bodyClient || ex.prefetching {
			// the round trip reports it: the client has no status yet
			return n, err
		}
		return n, ex.t.bodyFailed(ex, err)
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
				return 0, fmt.Errorf("%w: response body longer than its Content-Length %d", ajp.ErrUnrelayable, ex.respCL)
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
		case ajp.TypeSendBodyChunk:
			h, err := c.br.Peek(3)
			if err != nil {
				return n, noEOF(err)
			}
			size, err := ajp.ParseBodyChunkLen(h, pn)
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
		case ajp.TypeGetBodyChunk:
			if err := ex.c.readPayload(pn); err != nil {
				return n, err
			}
			if err := ex.sendBodyChunk(c.rbuf[:pn]); err != nil {
				return n, err
			}
		case ajp.TypeEndResponse:
			if err := ex.c.readPayload(pn); err != nil {
				return n, err
			}
			reuse, err := ajp.ParseEndResponse(c.rbuf[:pn])
			if err != nil {
				return n, err
			}
			if ex.respCL >= 0 && ex.respRead != ex.respCL {
				return n, fmt.Errorf("%w: response body of %d bytes is shorter than its Content-Length %d", ajp.ErrUnrelayable, ex.respRead, ex.respCL)
			}
			ex.reuse = reuse
			ex.finish(reuse)
			return n, io.EOF
		default:
			return n, fmt.Errorf("%w: unexpected message type %d in the response body", ajp.ErrProtocol, typ[0])
		}
	}
}

// nextBuffered reports whether the next packet can be taken without
// waiting: a body chunk whose header is here, or a whole END_RESPONSE.
// GET_BODY_CHUNK never is: answering it may wait for the client.
func (ex *exchange) nextBuffered() bool {
	br := ex.c.br
	if br.Buffered() < ajp.HeaderLen+3 {
		return false
	}
	h, _ := br.Peek(ajp.HeaderLen + 3)
	if h[0] != ajp.PrefixFromContainer1 || h[1] != ajp.PrefixFromContainer2 {
		return false // let the blocking path report it
	}
	switch h[4] {
	case ajp.TypeSendBodyChunk:
		return true
	case ajp.TypeEndResponse:
		return br.Buffered() >= ajp.HeaderLen+int(h[2])<<8|int(h[3])
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
	ex.dropPre()
	return nil
}

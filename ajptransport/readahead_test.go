package ajptransport

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/ajp"
)

// piecesReader hands out its data in pieces of random size, as a client's
// connection does; the last piece may come with io.EOF.
type piecesReader struct {
	data []byte
	rnd  *rand.Rand
	max  int
}

func (r *piecesReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), 1+r.rnd.IntN(r.max))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	if len(r.data) == 0 && r.rnd.IntN(2) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// askBody reads the request body as a container that asks for ask bytes
// at a time: every packet must hold at most what was asked for, and no
// packet may come that was not asked for.
func askBody(c *fakeConn, knownLength bool, ask int) ([]byte, error) {
	var body []byte
	if knownLength {
		p, err := c.readPacket()
		if err != nil {
			return nil, err
		}
		body = append(body, p[2:]...)
	}
	for {
		c.write([]byte{ajp.TypeGetBodyChunk, byte(ask >> 8), byte(ask)})
		p, err := c.readPacket()
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			break
		}
		if n := int(p[0])<<8 | int(p[1]); n != len(p)-2 || n > ask || n == 0 {
			return nil, fmt.Errorf("asked for %d bytes, got a packet of %d declaring %d", ask, len(p)-2, n)
		}
		body = append(body, p[2:]...)
	}
	// nothing else may come before the response
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	if p, err := c.readPacket(); err == nil {
		return nil, fmt.Errorf("an unrequested packet of %d bytes followed the body", len(p))
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	return body, nil
}

// Tomcat gets the client's body exactly, in the packet sizes it asks for
// and only when it asks, however the client's reads come and whether the
// length is known: what one read takes ahead of a request is sent later,
// never lost or sent unasked.
func TestRequestBodyReadAhead(t *testing.T) {
	type result struct {
		body []byte
		err  error
	}
	results := make(chan result, 1)
	var known bool
	var ask int
	fc := newFakeContainer(t, func(c *fakeConn) {
		for {
			if _, err := c.next(); err != nil {
				return
			}
			body, err := askBody(c, known, ask)
			results <- result{body, err}
			if err != nil {
				return
			}
			c.sendHeaders(200)
			c.end(true)
		}
	})
	tr := newTransport(t, nil)
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{1, 8185, 8186, 8187, 65536, 65537, 200_000} {
		for _, k := range []bool{true, false} {
			for _, a := range []int{8186, 1000} {
				for _, maxPiece := range []int{7, 5000, 100_000} {
					if maxPiece == 7 && size > 10_000 {
						continue // byte dribbles: the small bodies say enough
					}
					known, ask = k, a
					data := make([]byte, size)
					for i := range data {
						data[i] = byte(rnd.Uint32())
					}
					req := httptest.NewRequest("POST", "http://"+fc.addr()+"/share/echo.jsp", &piecesReader{data: data, rnd: rnd, max: maxPiece})
					if k {
						req.ContentLength = int64(size)
					} else {
						req.ContentLength = -1
					}
					resp, err := tr.RoundTrip(req)
					name := fmt.Sprintf("%d bytes, known length %v, asked %d at a time, client pieces up to %d", size, k, a, maxPiece)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					resp.Body.Close()
					r := <-results
					if r.err != nil {
						t.Fatalf("%s: %v", name, r.err)
					}
					if !bytes.Equal(r.body, data) {
						t.Fatalf("%s: Tomcat got %d bytes, not the client's body", name, len(r.body))
					}
				}
			}
		}
	}
}

// A read takes only what the client has already sent: with a body still
// streaming, Tomcat's answer comes through while the client has not sent
// the rest (a servlet may answer before it reads the whole body).
func TestRequestBodyReadAheadNeverWaitsForMore(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) {
		if _, err := c.next(); err != nil {
			return
		}
		c.write([]byte{ajp.TypeGetBodyChunk, 0x1f, 0xfa})
		if _, err := c.readPacket(); err != nil {
			return
		}
		c.sendHeaders(200)
		c.sendBody("early")
		c.end(false)
	})
	tr := newTransport(t, nil)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write(make([]byte, 100)) // the client sends 100 bytes, then nothing
	req := httptest.NewRequest("POST", "http://"+fc.addr()+"/share/echo.jsp", pr)
	req.ContentLength = -1
	done := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the response waited for body the client had not sent and Tomcat had not asked for")
	}
}

// The first bytes of a response are read before its headers are handed on
// (prefetch) and served from the pooled buffer they were read into: many
// responses at once, read a little at a time, each get their own bytes,
// whether they end inside that buffer or go on past it.
func TestPrefetchedBytesStayTheResponses(t *testing.T) {
	body := func(id string, size int) string {
		return strings.Repeat(id+".", size/(len(id)+1)+1)[:size]
	}
	fc := newFakeContainer(t, func(c *fakeConn) {
		for {
			pr, err := c.next()
			if err != nil {
				return
			}
			var id string
			var size int
			fmt.Sscanf(pr.URI, "/r/%d/%s", &size, &id)
			b := body(id, size)
			c.sendHeaders(200, "Content-Length", fmt.Sprint(size))
			for len(b) > 0 {
				n := min(len(b), 8000)
				c.sendBody(b[:n])
				b = b[n:]
			}
			c.end(true)
		}
	})
	tr := newTransport(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				size := []int{1, 5000, 16 << 10, 16<<10 + 1, 40000}[(g+i)%5]
				id := fmt.Sprintf("g%di%d", g, i)
				resp, err := get(t, tr, fc.addr(), fmt.Sprintf("/r/%d/%s", size, id))
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(iotest.HalfReader(resp.Body))
				resp.Body.Close()
				if err != nil || string(got) != body(id, size) {
					errs <- fmt.Errorf("%s: %d bytes, %v; not its own body", id, len(got), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

package ajptransport

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/ajp"
)

// This file holds a small AJP container written from the protocol reference,
// for what real Tomcat cannot be made to do (malformed packets, stalls,
// exact byte checks). The integration tests use real Tomcat.

// fakeContainer serves AJP on 127.0.0.1 with a handler per connection.
type fakeContainer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
	accepted int
}

func newFakeContainer(t testing.TB, handle func(c *fakeConn)) *fakeContainer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fc := &fakeContainer{ln: ln}
	fc.wg.Add(1)
	go func() {
		defer fc.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			fc.mu.Lock()
			fc.conns = append(fc.conns, nc)
			fc.accepted++
			fc.mu.Unlock()
			fc.wg.Add(1)
			go func() {
				defer fc.wg.Done()
				defer nc.Close()
				handle(&fakeConn{nc: nc, br: bufio.NewReader(nc)})
			}()
		}
	}()
	t.Cleanup(fc.close)
	return fc
}

func (fc *fakeContainer) addr() string { return fc.ln.Addr().String() }

func (fc *fakeContainer) close() {
	fc.ln.Close()
	fc.mu.Lock()
	for _, c := range fc.conns {
		c.Close()
	}
	fc.mu.Unlock()
	fc.wg.Wait()
}

func (fc *fakeContainer) acceptedConns() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.accepted
}

type fakeConn struct {
	nc net.Conn
	br *bufio.Reader
}

// readPacket reads one packet from the proxy.
func (c *fakeConn) readPacket() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return nil, err
	}
	if h[0] != 0x12 || h[1] != 0x34 {
		return nil, fmt.Errorf("bad prefix % x", h[:2])
	}
	p := make([]byte, binary.BigEndian.Uint16(h[2:]))
	_, err := io.ReadFull(c.br, p)
	return p, err
}

// next reads packets, answering CPING, until a FORWARD_REQUEST.
func (c *fakeConn) next() (*parsedRequest, error) {
	for {
		p, err := c.readPacket()
		if err != nil {
			return nil, err
		}
		if len(p) == 1 && p[0] == ajp.TypeCPing {
			c.write([]byte{ajp.TypeCPong})
			continue
		}
		return parseForwardRequest(p)
	}
}

func (c *fakeConn) write(payload []byte) {
	c.nc.Write(fromServerPacket(payload))
}

func (c *fakeConn) sendHeaders(status int, headers ...string) {
	p := []byte{ajp.TypeSendHeaders, byte(status >> 8), byte(status)}
	p = append(p, ajpStr(fmt.Sprint(status))...)
	p = append(p, ajpInt(len(headers)/2)...)
	for i := 0; i < len(headers); i += 2 {
		p = append(p, ajpStr(headers[i])...)
		p = append(p, ajpStr(headers[i+1])...)
	}
	c.write(p)
}

func (c *fakeConn) sendBody(data string) {
	p := []byte{ajp.TypeSendBodyChunk, byte(len(data) >> 8), byte(len(data))}
	p = append(p, data...)
	c.write(append(p, 0))
}

func (c *fakeConn) end(reuse bool) {
	r := byte(0)
	if reuse {
		r = 1
	}
	c.write([]byte{ajp.TypeEndResponse, r})
}

// readBody asks for the body with GET_BODY_CHUNK until the empty packet,
// after the initial unrequested packet when there is one.
func (c *fakeConn) readBody(pr *parsedRequest) (string, error) {
	var sb strings.Builder
	if cl := pr.Header("content-length"); cl != "" && cl != "0" {
		p, err := c.readPacket()
		if err != nil {
			return "", err
		}
		sb.Write(p[2:])
	}
	for {
		c.write([]byte{ajp.TypeGetBodyChunk, 0x1f, 0xfa})
		p, err := c.readPacket()
		if err != nil {
			return "", err
		}
		if len(p) == 0 {
			return sb.String(), nil
		}
		sb.Write(p[2:])
	}
}

// serveCanned answers CPING with CPONG and every other request packet that
// starts a request (FORWARD_REQUEST) with the prebuilt response bytes, until
// the connection closes. It reuses one buffer and writes each answer in one
// call, so benchmarks measure the transport, not the fake container.
func (c *fakeConn) serveCanned(response []byte) {
	buf := make([]byte, MaxPacketSize)
	for {
		var h [4]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return
		}
		if h[0] != 0x12 || h[1] != 0x34 {
			return
		}
		n := int(binary.BigEndian.Uint16(h[2:]))
		if _, err := io.ReadFull(c.br, buf[:n]); err != nil {
			return
		}
		switch {
		case n == 1 && buf[0] == ajp.TypeCPing:
			if _, err := c.nc.Write(pktCPong); err != nil {
				return
			}
		case n > 0 && buf[0] == ajp.TypeForwardRequest:
			if _, err := c.nc.Write(response); err != nil {
				return
			}
		}
	}
}

package ajptransport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// This file holds a small AJP container written from the protocol reference,
// for what real Tomcat cannot be made to do (malformed packets, stalls,
// exact byte checks). The integration tests use real Tomcat.

// parsedRequest is FORWARD_REQUEST as a container decodes it.
type parsedRequest struct {
	Method                 string
	Protocol, URI          string
	RemoteAddr, RemoteHost string
	RemoteHostNull         bool
	ServerName             string
	ServerPort             int
	IsSSL                  bool
	Headers                [][2]string // name as decoded (lower-case for coded headers)
	Attrs                  map[byte]string
	KeySize                int
	ReqAttrs               map[string]string
}

var errNull = errors.New("null string")

type rd struct {
	b   []byte
	err error
}

func (r *rd) u8() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *rd) u16() int {
	if r.err != nil || len(r.b) < 2 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	v := int(binary.BigEndian.Uint16(r.b))
	r.b = r.b[2:]
	return v
}

func (r *rd) str() (string, error) {
	n := r.u16()
	if r.err != nil {
		return "", r.err
	}
	if n == 0xFFFF {
		return "", errNull
	}
	if len(r.b) < n+1 || r.b[n] != 0 {
		r.err = fmt.Errorf("bad string of length %d", n)
		return "", r.err
	}
	s := string(r.b[:n])
	r.b = r.b[n+1:]
	return s, nil
}

func parseForwardRequest(p []byte) (*parsedRequest, error) {
	r := &rd{b: p}
	if t := r.u8(); t != typeForwardRequest {
		return nil, fmt.Errorf("type %d", t)
	}
	pr := &parsedRequest{Attrs: map[byte]string{}, ReqAttrs: map[string]string{}}
	m := r.u8()
	if m != methodStored {
		for name, code := range methodCodes {
			if code == m {
				pr.Method = name
			}
		}
	}
	pr.Protocol, _ = r.str()
	pr.URI, _ = r.str()
	pr.RemoteAddr, _ = r.str()
	var err error
	pr.RemoteHost, err = r.str()
	pr.RemoteHostNull = err == errNull
	pr.ServerName, _ = r.str()
	pr.ServerPort = r.u16()
	pr.IsSSL = r.u8() == 1
	n := r.u16()
	for i := 0; i < n && r.err == nil; i++ {
		var name string
		if len(r.b) >= 2 && r.b[0] == 0xA0 {
			code := r.u16()
			name = requestHeaderNames[code-0xA001]
		} else {
			name, _ = r.str()
		}
		v, _ := r.str()
		pr.Headers = append(pr.Headers, [2]string{name, v})
	}
	for r.err == nil {
		a := r.u8()
		if a == attrAreDone {
			break
		}
		switch a {
		case attrReqAttribute:
			k, _ := r.str()
			v, _ := r.str()
			pr.ReqAttrs[k] = v
		case attrSSLKeySize:
			pr.KeySize = r.u16()
		default:
			v, _ := r.str()
			pr.Attrs[a] = v
			if a == attrStoredMethod {
				pr.Method = v
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return pr, nil
}

func (pr *parsedRequest) header(name string) string {
	for _, h := range pr.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

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
		if len(p) == 1 && p[0] == typeCPing {
			c.write([]byte{typeCPong})
			continue
		}
		return parseForwardRequest(p)
	}
}

func (c *fakeConn) write(payload []byte) {
	c.nc.Write(fromServerPacket(payload))
}

func (c *fakeConn) sendHeaders(status int, headers ...string) {
	p := []byte{typeSendHeaders, byte(status >> 8), byte(status)}
	p = appendString(p, fmt.Sprint(status))
	p = appendInt(p, uint16(len(headers)/2))
	for i := 0; i < len(headers); i += 2 {
		p = appendString(p, headers[i])
		p = appendString(p, headers[i+1])
	}
	c.write(p)
}

func (c *fakeConn) sendBody(data string) {
	p := []byte{typeSendBodyChunk, byte(len(data) >> 8), byte(len(data))}
	p = append(p, data...)
	c.write(append(p, 0))
}

func (c *fakeConn) end(reuse bool) {
	r := byte(0)
	if reuse {
		r = 1
	}
	c.write([]byte{typeEndResponse, r})
}

// readBody asks for the body with GET_BODY_CHUNK until the empty packet,
// after the initial unrequested packet when there is one.
func (c *fakeConn) readBody(pr *parsedRequest) (string, error) {
	var sb strings.Builder
	if cl := pr.header("content-length"); cl != "" && cl != "0" {
		p, err := c.readPacket()
		if err != nil {
			return "", err
		}
		sb.Write(p[2:])
	}
	for {
		c.write([]byte{typeGetBodyChunk, 0x1f, 0xfa})
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
		case n == 1 && buf[0] == typeCPing:
			if _, err := c.nc.Write(pktCPong); err != nil {
				return
			}
		case n > 0 && buf[0] == typeForwardRequest:
			if _, err := c.nc.Write(response); err != nil {
				return
			}
		}
	}
}

// fromServerPacket frames a payload as a container→proxy packet ('A' 'B').
func fromServerPacket(payload []byte) []byte {
	return append([]byte{'A', 'B', byte(len(payload) >> 8), byte(len(payload))}, payload...)
}

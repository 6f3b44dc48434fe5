package ajptransport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/ajp"
)

// This file is one AJP connection and its packet framing.

// readBufferSize lets one read take several 8 KiB packets of a large
// response, so they reach the client in fewer, larger writes.
const readBufferSize = 32 << 10

// conn is one AJP connection to a container. It is used by one exchange at
// a time.
type conn struct {
	nc       net.Conn
	br       *bufio.Reader
	pool     *hostPool
	idleFrom time.Time
	rbuf     []byte // holds one packet payload
	peek     *peeker
	abort    func() // makes blocked I/O return at once: a cancelled request
}

func newConn(nc net.Conn, p *hostPool) *conn {
	c := &conn{
		nc:   nc,
		br:   bufio.NewReaderSize(nc, max(p.cfg.packetSize, readBufferSize)),
		pool: p,
		rbuf: make([]byte, p.cfg.packetSize),
		peek: newPeeker(nc),
	}
	c.abort = func() { _ = nc.SetDeadline(aLongTimeAgo) }
	return c
}

// aLongTimeAgo is a deadline in the past: blocked I/O returns at once.
var aLongTimeAgo = time.Unix(1, 0)

// cpingPacket is CPING, sent as is.
var cpingPacket = ajp.AppendCPing(nil)

// cping sends CPING and expects CPONG within timeout. A node that sent
// packets on other connections meanwhile is busy, not hung: its CPONG is
// waited for as long as it keeps doing so, up to read_timeout, the bound
// of any exchange. A busy node's slow CPONG then fails no request.
func (c *conn) cping(timeout time.Duration) error {
	start, err := c.sendCPing(timeout)
	if err != nil {
		return err
	}
	for {
		err := c.readCPong(start)
		if isTimeout(err) {
			now := time.Now()
			if c.pool.spokeSince(now.Add(-timeout).UnixNano()) && now.Sub(start) < c.pool.cfg.readTimeout {
				if err := c.nc.SetDeadline(now.Add(timeout)); err != nil {
					return err
				}
				continue
			}
			c.pool.st.cping(0, err)
		}
		if err != nil {
			return err
		}
		return c.nc.SetDeadline(time.Time{})
	}
}

// sendCPing sends CPING with timeout to get the answer, and returns when.
func (c *conn) sendCPing(timeout time.Duration) (time.Time, error) {
	start := time.Now()
	if err := c.nc.SetDeadline(start.Add(timeout)); err != nil {
		return start, err
	}
	_, err := c.nc.Write(cpingPacket)
	return start, err
}

// readCPong reads the answer to a CPING sent at start: nil for CPONG. Any
// packet shows the node alive; the CPING's outcome goes to /metrics,
// except a timeout, returned as is for the caller to tell a busy node
// (waited for, or passed) from a hung one (it records that failure).
func (c *conn) readCPong(start time.Time) error {
	n, err := c.readPacket()
	if err != nil {
		if !isTimeout(err) {
			c.pool.st.cping(0, err)
		}
		return err
	}
	now := time.Now()
	c.pool.sawPacket(now.UnixNano())
	if n != 1 || c.rbuf[0] != ajp.TypeCPong {
		err := fmt.Errorf("%w: expected CPONG, got type %d", ajp.ErrProtocol, c.rbuf[0])
		c.pool.st.cping(0, err)
		return err
	}
	c.pool.st.cping(now.Sub(start), nil)
	return nil
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readPacket reads one whole packet into c.rbuf and returns its payload length.
func (c *conn) readPacket() (int, error) {
	n, err := c.readHeader()
	if err != nil {
		return 0, err
	}
	return n, c.readPayload(n)
}

// readHeader reads and checks a packet header and returns the payload length.
func (c *conn) readHeader() (int, error) {
	hdr, err := c.br.Peek(ajp.HeaderLen)
	if err != nil {
		return 0, noEOF(err)
	}
	n, err := ajp.ParsePacketHeader(hdr, len(c.rbuf))
	if err != nil {
		return 0, err
	}
	_, _ = c.br.Discard(ajp.HeaderLen)
	return n, nil
}

// readPayload reads a payload of n bytes into c.rbuf.
func (c *conn) readPayload(n int) error {
	if _, err := io.ReadFull(c.br, c.rbuf[:n]); err != nil {
		return noEOF(err)
	}
	return nil
}

// noEOF turns a clean EOF in the middle of an exchange into ErrUnexpectedEOF:
// the container closed the connection before END_RESPONSE.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// errCPing marks a connection that was made but did not answer CPING.
var errCPing = errors.New("no CPONG")

// cpingFailed explains why a new connection is not usable: a timeout is a
// connector that accepts but does not serve yet (Tomcat binds its port
// long before it starts) or a hung JVM; anything else that is not CPONG
// means the port is not an AJP connector.
func cpingFailed(addr string, err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %s accepted the connection but did not answer CPING within ping_timeout (still starting, or hung): %w", errCPing, addr, err)
	case errors.Is(err, ajp.ErrProtocol):
		return fmt.Errorf("%w: %s did not answer CPING with CPONG (is it an AJP connector?): %w", errCPing, addr, err)
	}
	return fmt.Errorf("%w: %s closed the connection instead of answering CPING: %w", errCPing, addr, err)
}

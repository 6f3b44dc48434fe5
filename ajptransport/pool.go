package ajptransport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// errPoolExhausted is returned when max_conns_per_host connections are busy
// and none came free within the wait bound.
var errPoolExhausted = errors.New("all AJP connections to this backend are busy (max_conns_per_host)")

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

// poolConfig is what the pools need from the transport config.
type poolConfig struct {
	packetSize  int
	dialTimeout time.Duration
	pingTimeout time.Duration
	pingAfter   time.Duration
	idleTimeout time.Duration
	maxConns    int
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
}

// hostPool keeps the keep-alive connections to one backend address.
type hostPool struct {
	cfg     *poolConfig
	network string
	addr    string

	mu      sync.Mutex
	idle    []*conn // LIFO: the most recently used is the warmest
	open    int     // connections that exist, idle or busy
	waiters []chan struct{}
	closed  bool
}

// get returns a usable connection: an idle one that passes the liveness
// checks, or a new one. reused tells which. A failure to obtain a connection
// is wrapped so the caller can report it as a dial error.
func (p *hostPool) get(ctx context.Context) (c *conn, reused bool, err error) {
	var deadline time.Time
	for {
		p.mu.Lock()
		// After Cleanup (a config reload), requests the old config still
		// serves during its grace period get fresh connections, which are
		// closed after their one exchange: nothing is kept, nothing fails.
		if n := len(p.idle); n > 0 && !p.closed {
			c = p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			if p.check(c) {
				return c, true, nil
			}
			p.discard(c)
			continue
		}
		if p.cfg.maxConns <= 0 || p.open < p.cfg.maxConns || p.closed {
			p.open++
			p.mu.Unlock()
			c, err = p.dial(ctx)
			if err != nil {
				p.release()
				return nil, false, err
			}
			return c, false, nil
		}
		// At the limit: wait for a connection to come back or close.
		ch := make(chan struct{})
		p.waiters = append(p.waiters, ch)
		p.mu.Unlock()
		if deadline.IsZero() {
			deadline = time.Now().Add(p.cfg.dialTimeout)
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-ch:
			t.Stop()
		case <-t.C:
			p.dropWaiter(ch)
			return nil, false, errPoolExhausted
		case <-ctx.Done():
			t.Stop()
			p.dropWaiter(ch)
			return nil, false, ctx.Err()
		}
	}
}

// check decides whether an idle connection may carry the next request: not
// idle too long, not closed by the peer, and answering CPING when it has
// been idle longer than ping_after.
func (p *hostPool) check(c *conn) bool {
	idle := time.Since(c.idleFrom)
	if p.cfg.idleTimeout > 0 && idle > p.cfg.idleTimeout {
		return false
	}
	if c.br.Buffered() > 0 || !c.peek.peerAlive() {
		return false
	}
	if idle > p.cfg.pingAfter {
		return c.cping(p.cfg.pingTimeout) == nil
	}
	return true
}

func (p *hostPool) dial(ctx context.Context) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, p.cfg.dialTimeout)
	defer cancel()
	nc, err := p.cfg.dial(dctx, p.network, p.addr)
	if err != nil {
		return nil, err
	}
	c := &conn{
		nc:   nc,
		br:   bufio.NewReaderSize(nc, max(p.cfg.packetSize, readBufferSize)),
		pool: p,
		rbuf: make([]byte, p.cfg.packetSize),
		peek: newPeeker(nc),
	}
	c.abort = func() { _ = nc.SetDeadline(aLongTimeAgo) }
	if err := c.cping(p.cfg.pingTimeout); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("new connection does not answer CPING (is %s an AJP connector?): %w", p.addr, err)
	}
	return c, nil
}

// put returns a connection whose exchange ended cleanly.
func (p *hostPool) put(c *conn) {
	c.idleFrom = time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.discard(c)
		return
	}
	p.idle = append(p.idle, c)
	p.wakeOne()
	p.mu.Unlock()
}

// discard closes a connection that must not be reused and frees its slot.
func (p *hostPool) discard(c *conn) {
	_ = c.nc.Close()
	p.release()
}

func (p *hostPool) release() {
	p.mu.Lock()
	p.open--
	p.wakeOne()
	p.mu.Unlock()
}

// wakeOne signals one waiter; p.mu is held.
func (p *hostPool) wakeOne() {
	if len(p.waiters) > 0 {
		close(p.waiters[0])
		p.waiters = p.waiters[1:]
	}
}

func (p *hostPool) dropWaiter(ch chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return
		}
	}
	// already woken: pass the wake-up on so it is not lost
	p.wakeOne()
}

// closeIdle closes idle connections older than the idle timeout, or all of
// them when all is set (and then closes the pool).
func (p *hostPool) closeIdle(all bool) {
	p.mu.Lock()
	var drop []*conn
	keep := p.idle[:0]
	for _, c := range p.idle {
		if all || (p.cfg.idleTimeout > 0 && time.Since(c.idleFrom) > p.cfg.idleTimeout) {
			drop = append(drop, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	if all {
		p.closed = true
		for _, w := range p.waiters {
			close(w)
		}
		p.waiters = nil
	}
	p.mu.Unlock()
	for _, c := range drop {
		p.discard(c)
	}
}

// cping sends CPING and expects CPONG within timeout.
func (c *conn) cping(timeout time.Duration) error {
	if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.nc.Write(cpingPacket); err != nil {
		return err
	}
	n, err := c.readPacket()
	if err != nil {
		return err
	}
	if n != 1 || c.rbuf[0] != typeCPong {
		return fmt.Errorf("%w: expected CPONG, got type %d", ErrProtocol, c.rbuf[0])
	}
	return c.nc.SetDeadline(time.Time{})
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
	hdr, err := c.br.Peek(packetHeaderLen)
	if err != nil {
		return 0, noEOF(err)
	}
	n, err := ParsePacketHeader(hdr, len(c.rbuf))
	if err != nil {
		return 0, err
	}
	_, _ = c.br.Discard(packetHeaderLen)
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

package ajptransport

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// poolConfig is what the pools need from the transport config.
type poolConfig struct {
	packetSize  int
	dialTimeout time.Duration
	pingTimeout time.Duration
	pingAfter   time.Duration
	idleTimeout time.Duration
	maxConns    int
	readTimeout time.Duration
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
}

// hostPool keeps the keep-alive connections to one backend address.
type hostPool struct {
	cfg     *poolConfig
	network string
	addr    string
	st      *upstreamStats // what /metrics reports of this address

	// alive is when a packet last came from the node (UnixNano, coarse;
	// marked by an exchange when it goes on to read after a packet, and by
	// CPONGs): a node that answers anyone is busy, not hung.
	alive atomic.Int64

	mu      sync.Mutex
	idle    []*conn // LIFO: the most recently used is the warmest
	open    int     // connections that exist, idle or busy
	waiters []chan struct{}
	closed  bool
}

// aliveGrain is how stale alive may be: it is stored at most this often,
// so busy connections do not fight over its cache line.
const aliveGrain = int64(10 * time.Millisecond)

// sawPacket records that the node just sent a packet.
func (p *hostPool) sawPacket(now int64) {
	if now-p.alive.Load() > aliveGrain {
		p.alive.Store(now)
	}
}

// spokeSince reports whether the node sent any packet, on any connection,
// after t (UnixNano). alive lags by up to aliveGrain, so the last packets
// before a silence may be missed; a busy node sends more.
func (p *hostPool) spokeSince(t int64) bool { return p.alive.Load() > t }

// get returns a usable connection: an idle one that passes the liveness
// checks, or a new one. reused tells which. A failure to obtain a connection
// is wrapped so the caller can report it as a dial error.
// retryable tells a request that is sent again on a new connection when a
// pooled one turns out dead before anything came back (bodyless and
// idempotent): it can skip the liveness peek of a connection that came
// back to the pool moments ago.
func (p *hostPool) get(ctx context.Context, retryable bool) (c *conn, reused bool, err error) {
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
			if p.check(c, retryable) {
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

// peekAfter is how long a connection may have been idle before even a
// retryable request checks it with a peek.
const peekAfter = time.Second

// check decides whether an idle connection may carry the next request: not
// idle too long, not closed by the peer, and answering CPING when it has
// been idle longer than ping_after.
func (p *hostPool) check(c *conn, retryable bool) bool {
	idle := time.Since(c.idleFrom)
	if p.cfg.idleTimeout > 0 && idle > p.cfg.idleTimeout {
		return false
	}
	if c.br.Buffered() > 0 {
		return false
	}
	// the peek is a system call per request; a connection back in the pool
	// for less than peekAfter rarely died meanwhile, and if it did, a
	// retryable request is sent again on a new one
	if (!retryable || idle > peekAfter) && !c.peek.peerAlive() {
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
	if p.st != nil {
		p.st.dialed.Add(1)
	}
	c := newConn(nc, p)
	if err := c.cping(p.cfg.pingTimeout); err != nil {
		_ = nc.Close()
		return nil, cpingFailed(p.addr, err)
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
// them when all is set. shut also closes the pool (Cleanup).
func (p *hostPool) closeIdle(all, shut bool) {
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
	if shut {
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

// janitor closes connections that stayed idle past idle_timeout.
func (t *Transport) janitor() {
	defer close(t.janDone)
	every := min(time.Duration(t.IdleTimeout)/2, 30*time.Second)
	every = max(every, 100*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.stopJan:
			return
		case <-tick.C:
			t.poolsMu.RLock()
			for _, p := range t.pools {
				p.closeIdle(false, false)
			}
			t.poolsMu.RUnlock()
		}
	}
}

// poolKey identifies a backend; a struct key keeps lookups allocation-free.
type poolKey struct{ network, addr string }

func (t *Transport) pool(network, addr string) *hostPool {
	key := poolKey{network, addr}
	t.poolsMu.RLock()
	p := t.pools[key]
	t.poolsMu.RUnlock()
	if p != nil {
		return p
	}
	t.poolsMu.Lock()
	defer t.poolsMu.Unlock()
	if p = t.pools[key]; p == nil {
		p = &hostPool{cfg: &t.cfg, network: network, addr: addr, st: statsFor(addr)}
		if t.closed.Load() {
			p.closed = true
		}
		t.pools[key] = p
	}
	return p
}

// openConns counts AJP connections open in this process, across configs.
var openConns atomic.Int64

// OpenConnections returns how many AJP connections this process holds open,
// busy or idle, across all transports. Tests use it to prove that no
// connection outlives its config.
func OpenConnections() int64 { return openConns.Load() }

type countedConn struct {
	net.Conn
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { openConns.Add(-1) })
	return c.Conn.Close()
}

// SyscallConn exposes the socket for the liveness peek.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, fmt.Errorf("%T has no file descriptor", c.Conn)
}

func countingDial(dial func(context.Context, string, string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		openConns.Add(1)
		return &countedConn{Conn: nc}, nil
	}
}

func (t *Transport) getBuf() *[]byte { return t.bufPool.Get().(*[]byte) }

func (t *Transport) putBuf(b *[]byte) {
	*b = (*b)[:0]
	t.bufPool.Put(b)
}

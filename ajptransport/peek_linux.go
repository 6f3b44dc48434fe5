//go:build linux

package ajptransport

import (
	"syscall"
)

// peeker checks an idle connection without blocking: a peek that finds EOF,
// an error or unexpected bytes means the container closed it (restart,
// SIGKILL, its keep-alive timeout) or broke protocol, so it must not carry
// a request. It is set up once per connection so a check is one recvfrom
// and no allocation.
type peeker struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool
	alive bool
	buf   [1]byte
}

func newPeeker(nc any) *peeker {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &peeker{rc: rc}
	p.fn = func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK:
			p.alive = true
		default:
			p.alive = false // error, EOF (n == 0) or unsolicited bytes
			_ = n
		}
		return true // never wait for readiness
	}
	return p
}

// peerAlive reports whether the connection is still open and silent.
func (p *peeker) peerAlive() bool {
	if p == nil {
		return true
	}
	p.alive = false
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.alive
}

//go:build linux

package ajptransport

import (
	"net"
	"syscall"
)

// peerAlive reports whether an idle connection is still open: a
// non-blocking peek that finds EOF, an error or unexpected bytes means the
// container closed it (restart, SIGKILL, its keep-alive timeout) or broke
// protocol, so it must not carry a request. One recvfrom, no allocation.
func peerAlive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
			alive = true
		case rerr != nil, n == 0:
			alive = false // error or EOF
		default:
			alive = false // unsolicited bytes: the exchange framing is lost
		}
		return true // never wait for readiness
	})
	return err == nil && alive
}

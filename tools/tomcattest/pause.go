package tomcattest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Pause stops the JVM with SIGSTOP, as a hung node (a long GC pause, a
// stuck host) looks from outside: its ports accept connections and nothing
// answers. Resume continues it. A test that pauses a node should resume it
// in a cleanup: Stop's SIGTERM waits until the JVM runs again.
func (n *Node) Pause() error { return n.signal(syscall.SIGSTOP) }

// Resume continues a node stopped by Pause with SIGCONT.
func (n *Node) Resume() error { return n.signal(syscall.SIGCONT) }

func (n *Node) signal(sig syscall.Signal) error {
	pid := n.PID()
	if pid == 0 {
		return fmt.Errorf("node %s: not running", n.opts.Name)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("node %s: %v to pid %d: %w", n.opts.Name, sig, pid, err)
	}
	return nil
}

// SlowStartWebapp is the "slowstart" application at /slowstart: its
// deployment takes the node's start-up delay (SetStartupDelay).
func SlowStartWebapp() Webapp { return Webapp{Path: "/slowstart", Embedded: "slowstart"} }

// startupDelayFile is read by the slowstart application at deployment.
const startupDelayFile = "tomcattest-startup-delay-ms"

// SetStartupDelay makes the next starts of a node that deploys
// SlowStartWebapp take d longer: the application sleeps that long while it
// is deployed, with the connectors bound and not yet serving. 0 removes the
// delay.
func (n *Node) SetStartupDelay(d time.Duration) error {
	p := filepath.Join(n.base, "conf", startupDelayFile)
	if d <= 0 {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	return os.WriteFile(p, []byte(strconv.FormatInt(d.Milliseconds(), 10)), 0o644)
}

package tomcattest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddy-ajp/caddy-ajp/tools/harness"
)

// StartTimeout bounds how long Start waits for a node to be ready.
const StartTimeout = 60 * time.Second

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// Log lines that mean the start failed although the JVM may still run.
var startFailureMarkers = []string{
	"startup failed due to previous errors",
	"failed to start component",
	"a child container failed during start",
	"unable to start",
	"failed to initialize component",
	"failed to initialize connector",
}

// Node is a running (or stopped) Tomcat.
type Node struct {
	opts     Options
	home     string
	base     string
	tempBase bool
	java     string

	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{} // closed when cmd has been reaped
	runOffset int64         // size of catalina.out when the current run started
	finished  bool          // Stop ran: the base may be gone
}

// Start writes a CATALINA_BASE for o, starts Tomcat in it and returns once
// Tomcat logged "Server startup in" and every webapp answers through the AJP
// connector (and the HTTP connector, if any). It fails, with the tail of the
// Tomcat log, if Tomcat exits or is not ready within StartTimeout.
func Start(ctx context.Context, o Options) (*Node, error) {
	if o.Cluster != nil {
		c := *o.Cluster
		c.Peers = slices.Clone(c.Peers)
		o.Cluster = &c
	}
	o.Webapps = slices.Clone(o.Webapps)
	o.ExtraJVMArgs = slices.Clone(o.ExtraJVMArgs)
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	home, err := CatalinaHome()
	if err != nil {
		return nil, err
	}
	java, err := javaBinary(o.JavaHome)
	if err != nil {
		return nil, err
	}
	n := &Node{opts: o, home: home, java: java, base: o.BaseDir}
	if n.base == "" {
		n.base, err = os.MkdirTemp("", "tomcattest-"+o.Name+"-")
		if err != nil {
			return nil, fmt.Errorf("creating CATALINA_BASE: %w", err)
		}
		n.tempBase = true
	} else if n.base, err = filepath.Abs(n.base); err != nil {
		return nil, err
	}
	if err := writeBase(home, n.base, &n.opts); err != nil {
		n.removeBase()
		return nil, fmt.Errorf("node %s: %w", o.Name, err)
	}
	if err := n.start(ctx); err != nil {
		n.removeBase()
		return nil, err
	}
	return n, nil
}

// jvmArgs is the java command line after the launcher.
func (n *Node) jvmArgs() []string {
	o := &n.opts
	args := []string{"-Xms64m", "-Xmx256m", "-XX:TieredStopAtLevel=1"}
	if !slices.ContainsFunc(o.ExtraJVMArgs, func(a string) bool {
		return strings.HasPrefix(a, "-XX:+Use") && strings.HasSuffix(a, "GC")
	}) {
		args = append(args, "-XX:+UseSerialGC")
	}
	args = append(args,
		"-Djava.awt.headless=true",
		"-Djava.security.egd=file:/dev/./urandom",
		"-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager",
		"-Djava.util.logging.config.file="+filepath.Join(n.base, "conf", "logging.properties"),
		"-Djdk.tls.ephemeralDHKeySize=2048",
		"-Djava.protocol.handler.pkgs=org.apache.catalina.webresources",
		// A connector that cannot bind ends the JVM instead of leaving a
		// half-started Tomcat behind.
		"-Dorg.apache.catalina.startup.EXIT_ON_INIT_FAILURE=true",
		"--add-opens=java.base/java.lang=ALL-UNNAMED",
		"--add-opens=java.base/java.io=ALL-UNNAMED",
		"--add-opens=java.base/java.util=ALL-UNNAMED",
		"--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
		"--add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED",
		"-Dtomcattest.node="+o.Name,
	)
	args = append(args, o.ExtraJVMArgs...)
	args = append(args,
		"-classpath", filepath.Join(n.home, "bin", "bootstrap.jar")+":"+filepath.Join(n.home, "bin", "tomcat-juli.jar"),
		"-Dcatalina.home="+n.home,
		"-Dcatalina.base="+n.base,
		"-Djava.io.tmpdir="+filepath.Join(n.base, "temp"),
		"org.apache.catalina.startup.Bootstrap", "start",
	)
	return args
}

// start launches the JVM on the existing base and waits until it is ready.
func (n *Node) start(ctx context.Context) error {
	n.mu.Lock()
	if n.finished {
		n.mu.Unlock()
		return fmt.Errorf("node %s: already stopped for good", n.opts.Name)
	}
	if n.cmd != nil {
		n.mu.Unlock()
		return fmt.Errorf("node %s: already running (pid %d)", n.opts.Name, n.cmd.Process.Pid)
	}
	logFile, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.mu.Unlock()
		return fmt.Errorf("node %s: opening log: %w", n.opts.Name, err)
	}
	st, err := logFile.Stat()
	if err != nil {
		logFile.Close()
		n.mu.Unlock()
		return err
	}
	fmt.Fprintf(logFile, "==== tomcattest: starting node %s at %s ====\n", n.opts.Name, time.Now().Format(time.RFC3339Nano))
	n.runOffset = st.Size()

	cmd := exec.Command(n.java, n.jvmArgs()...)
	cmd.Dir = n.base
	cmd.Env = append(os.Environ(), "CATALINA_HOME="+n.home, "CATALINA_BASE="+n.base)
	var out io.Writer = logFile
	if n.opts.Stdout != nil {
		out = io.MultiWriter(logFile, n.opts.Stdout)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group (a terminal's Ctrl-C goes to the test binary, which
	// cleans up), and SIGKILL if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		n.mu.Unlock()
		return fmt.Errorf("node %s: starting java: %w", n.opts.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // reaps: a killed JVM stays a zombie until then
		logFile.Close()
		close(done)
	}()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()

	if err := n.waitReady(ctx); err != nil {
		_ = n.kill()
		return fmt.Errorf("node %s: %w\n--- tail of %s ---\n%s", n.opts.Name, err, n.LogPath(), harness.Tail(n.Log(), 40))
	}
	return nil
}

// waitReady waits for "Server startup in", then for each webapp to answer.
func (n *Node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	start := time.Now()
	done := n.doneChan()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	ready := false
	for {
		run := n.runLog()
		lower := strings.ToLower(run)
		for _, m := range startFailureMarkers {
			if strings.Contains(lower, m) {
				return fmt.Errorf("tomcat did not start: its log says %q", m)
			}
		}
		if !ready && strings.Contains(run, "Server startup in") {
			ready = true
		}
		if ready {
			err := n.probeWebapps(ctx)
			if err == nil {
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("webapps not ready after %s: %w", time.Since(start).Round(time.Millisecond), err)
			}
		}
		select {
		case <-done:
			return fmt.Errorf("tomcat exited during start (%s)", n.exitStatus())
		case <-ctx.Done():
			return fmt.Errorf("tomcat not ready after %s: %w", time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-tick.C:
		}
	}
}

// probeWebapps sends one real request per webapp through each connector:
// a context that is deployed redirects its bare path to path + "/".
func (n *Node) probeWebapps(ctx context.Context) error {
	for _, w := range n.opts.Webapps {
		uri, want := w.Path, 302
		if uri == "" {
			uri, want = "/", -1
		}
		status, err := ajpProbe(ctx, n.AJPAddr(), n.opts.Secret, uri)
		if err != nil {
			return fmt.Errorf("AJP probe of %s: %w", uri, err)
		}
		if want > 0 && status != want || status == 404 && want < 0 {
			return fmt.Errorf("AJP probe of %s: status %d", uri, status)
		}
		if n.opts.HTTPPort != 0 {
			status, err := httpProbe(ctx, n.HTTPURL()+uri)
			if err != nil {
				return fmt.Errorf("HTTP probe of %s: %w", uri, err)
			}
			if want > 0 && status != want || status == 404 && want < 0 {
				return fmt.Errorf("HTTP probe of %s: status %d", uri, status)
			}
		}
	}
	return nil
}

// Stop ends the node for good: SIGTERM, up to 10 s for a clean shutdown,
// then SIGKILL; the process is always reaped. A temporary base is removed
// unless Options.Keep or TOMCATTEST_KEEP=1. Stop is idempotent.
func (n *Node) Stop() error {
	err := n.Shutdown()
	n.mu.Lock()
	already := n.finished
	n.finished = true
	n.mu.Unlock()
	if !already {
		n.removeBase()
	}
	return err
}

// Shutdown stops the JVM like Stop but keeps the base, so Restart can start
// it again. It does nothing if the node is not running.
func (n *Node) Shutdown() error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	var err error
	if sigErr := cmd.Process.Signal(syscall.SIGTERM); sigErr == nil {
		select {
		case <-done:
		case <-time.After(stopGrace):
			err = fmt.Errorf("node %s: no clean shutdown within %s, killed", n.opts.Name, stopGrace)
			_ = cmd.Process.Kill()
			<-done
		}
	} else {
		<-done // already exited
	}
	n.mu.Lock()
	if n.cmd == cmd {
		n.cmd = nil
	}
	n.mu.Unlock()
	return err
}

// Kill ends the JVM with SIGKILL, as a crash would, and reaps it. The base
// stays: Restart starts the node again.
func (n *Node) Kill() error { return n.kill() }

func (n *Node) kill() error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Kill()
	<-done
	n.mu.Lock()
	if n.cmd == cmd {
		n.cmd = nil
	}
	n.mu.Unlock()
	return nil
}

// Restart shuts the node down if it runs and starts it again on the same
// base and ports, waiting as Start does.
func (n *Node) Restart(ctx context.Context) error {
	if err := n.Shutdown(); err != nil {
		return err
	}
	return n.start(ctx)
}

// Running reports whether the JVM is running.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// PID is the JVM's process id, 0 when not running.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Name is Options.Name.
func (n *Node) Name() string { return n.opts.Name }

// Options returns the node's options with defaults applied.
func (n *Node) Options() Options { return n.opts }

// BaseDir is CATALINA_BASE.
func (n *Node) BaseDir() string { return n.base }

// AJPPort is the AJP connector's port on 127.0.0.1.
func (n *Node) AJPPort() int { return n.opts.AJPPort }

// AJPAddr is "127.0.0.1:<AJPPort>".
func (n *Node) AJPAddr() string { return "127.0.0.1:" + strconv.Itoa(n.opts.AJPPort) }

// HTTPPort is the HTTP connector's port, 0 if there is none.
func (n *Node) HTTPPort() int { return n.opts.HTTPPort }

// HTTPURL is "http://127.0.0.1:<HTTPPort>", "" without an HTTP connector.
func (n *Node) HTTPURL() string {
	if n.opts.HTTPPort == 0 {
		return ""
	}
	return "http://127.0.0.1:" + strconv.Itoa(n.opts.HTTPPort)
}

// Secret is the AJP secret ("" for none).
func (n *Node) Secret() string { return n.opts.Secret }

// JvmRoute is the Engine's jvmRoute.
func (n *Node) JvmRoute() string { return n.opts.JvmRoute }

// LogPath is CATALINA_BASE/logs/catalina.out: Tomcat's console output of all
// runs of this node.
func (n *Node) LogPath() string { return filepath.Join(n.base, "logs", "catalina.out") }

// Log returns the whole log so far, all runs included.
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.LogPath())
	return string(b)
}

// LogOffset is the current size of the log, for WaitLogFrom.
func (n *Node) LogOffset() int64 {
	st, err := os.Stat(n.LogPath())
	if err != nil {
		return 0
	}
	return st.Size()
}

// runLog is the log of the current run.
func (n *Node) runLog() string {
	n.mu.Lock()
	off := n.runOffset
	n.mu.Unlock()
	return n.logFrom(off)
}

func (n *Node) logFrom(off int64) string {
	b, _ := os.ReadFile(n.LogPath())
	if off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

// WaitLog waits until the log of the current run (since the last Start or
// Restart) contains substr.
func (n *Node) WaitLog(ctx context.Context, substr string) error {
	n.mu.Lock()
	off := n.runOffset
	n.mu.Unlock()
	return n.WaitLogFrom(ctx, off, substr)
}

// WaitLogFrom waits until the log after byte offset off (see LogOffset)
// contains substr.
func (n *Node) WaitLogFrom(ctx context.Context, off int64, substr string) error {
	return poll(ctx, func() bool { return strings.Contains(n.logFrom(off), substr) },
		func() error { return fmt.Errorf("node %s: waiting for %q in %s", n.opts.Name, substr, n.LogPath()) })
}

// poll calls cond every 50 ms until it holds or ctx ends.
func poll(ctx context.Context, cond func() bool, fail func() error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", fail(), ctx.Err())
		case <-tick.C:
		}
	}
}

func (n *Node) doneChan() chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.done
}

func (n *Node) exitStatus() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.ProcessState == nil {
		return "unknown status"
	}
	return n.cmd.ProcessState.String()
}

func (n *Node) removeBase() {
	if n.tempBase && !n.opts.Keep && os.Getenv("TOMCATTEST_KEEP") != "1" {
		_ = os.RemoveAll(n.base)
	}
}

package apachetest

import (
	"context"
	"errors"
	"fmt"
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

// StartTimeout bounds how long Start waits for Apache to answer.
const StartTimeout = 20 * time.Second

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// installHint is what a missing Apache or module error says to do.
const installHint = "apt-get install apache2 libapache2-mod-jk"

// ErrNotInstalled is returned (wrapped) when httpd or a module is missing.
var ErrNotInstalled = errors.New("Apache httpd is not installed (" + installHint + ")")

// Server is a running (or stopped) Apache httpd.
type Server struct {
	opts Options
	dir  string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has been reaped
	finished bool
}

// Binary returns the httpd binary: apache2 (Debian) or httpd on $PATH or in
// /usr/sbin.
func Binary() (string, error) {
	for _, name := range []string{"apache2", "/usr/sbin/apache2", "httpd", "/usr/sbin/httpd"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: no apache2 or httpd binary", ErrNotInstalled)
}

// Start writes a config for o into a new temporary directory, starts httpd
// in the foreground on it and returns once Apache answers an HTTP request.
// It fails, with httpd's output and error log, if httpd exits or does not
// answer within StartTimeout.
func Start(ctx context.Context, o Options) (*Server, error) {
	o.Members = slices.Clone(o.Members)
	if o.TLS != nil {
		t := *o.TLS // setDefaults and Start fill it in
		o.TLS = &t
	}
	if err := o.setDefaults(); err != nil {
		return nil, fmt.Errorf("apachetest: %w", err)
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	for _, m := range modules(&o) {
		if _, err := os.Stat(modulePath(m)); err != nil {
			return nil, fmt.Errorf("%w: module %s: %v", ErrNotInstalled, m, err)
		}
	}
	if o.Port == 0 {
		if o.Port, err = harness.FreePort(); err != nil {
			return nil, err
		}
	}
	if t := o.TLS; t != nil {
		for t.Port == 0 || t.Port == o.Port {
			if t.Port, err = harness.FreePort(); err != nil {
				return nil, err
			}
		}
	}
	dir, err := os.MkdirTemp("", "apachetest-")
	if err != nil {
		return nil, fmt.Errorf("apachetest: creating the server root: %w", err)
	}
	s := &Server{opts: o, dir: dir}
	if err := s.writeFiles(); err != nil {
		s.removeDir()
		return nil, err
	}
	if err := s.start(ctx, bin); err != nil {
		s.removeDir()
		return nil, err
	}
	return s, nil
}

func (s *Server) writeFiles() error {
	// Children run as www-data when the test runs as root; they only use
	// descriptors and shared memory the parent opened, but mod_jk reopens
	// its shm file by name.
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(s.dir, "htdocs"), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(s.dir, "run"), 0o777); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(s.dir, "run"), 0o777); err != nil {
		return err
	}
	conf, workers := renderConfig(&s.opts, s.dir)
	if err := os.WriteFile(s.ConfigPath(), []byte(conf), 0o600); err != nil {
		return fmt.Errorf("apachetest: writing httpd.conf: %w", err)
	}
	if workers != "" {
		if err := os.WriteFile(filepath.Join(s.dir, "workers.properties"), []byte(workers), 0o600); err != nil {
			return fmt.Errorf("apachetest: writing workers.properties: %w", err)
		}
	}
	return nil
}

func (s *Server) start(ctx context.Context, bin string) error {
	out, err := os.OpenFile(filepath.Join(s.dir, "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "-d", s.dir, "-f", s.ConfigPath(), "-D", "FOREGROUND")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group, so Stop can reach the children if the parent
	// hangs; SIGKILL if the test binary dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("apachetest: starting %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := s.waitReady(ctx); err != nil {
		s.kill()
		return fmt.Errorf("apachetest: %w\n%s", err, s.diagnostics())
	}
	return nil
}

// waitReady polls with real HTTP requests until httpd answers one.
func (s *Server) waitReady(ctx context.Context) error {
	h, err := harness.WaitHTTP(ctx, s.URL()+"/apachetest-ready", s.done, StartTimeout)
	switch {
	case errors.Is(err, harness.ErrExited):
		return fmt.Errorf("httpd exited during start (%s)", s.cmd.ProcessState)
	case err != nil:
		return fmt.Errorf("httpd: %w", err)
	case !strings.Contains(h.Get("Server"), "Apache"):
		return fmt.Errorf("port %d answers, but not as Apache (Server: %q)", s.opts.Port, h.Get("Server"))
	}
	return nil
}

// Stop ends httpd: SIGTERM to its PID, up to 10 s for it and its children
// to exit, then SIGKILL to its process group; the process is always reaped.
// The temporary directory is removed unless APACHETEST_KEEP=1. Stop is
// idempotent.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, done, already := s.cmd, s.done, s.finished
	s.finished = true
	s.mu.Unlock()
	if already {
		return nil
	}
	var err error
	if cmd != nil {
		pid := cmd.Process.Pid
		if sigErr := cmd.Process.Signal(syscall.SIGTERM); sigErr == nil {
			select {
			case <-done:
			case <-time.After(stopGrace):
				err = fmt.Errorf("apachetest: httpd %d did not stop within %s, killed", pid, stopGrace)
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				<-done
			}
		} else {
			<-done
		}
		// Children that outlived their parent (they should not).
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	s.removeDir()
	return err
}

func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// URL is "http://127.0.0.1:<Port>".
func (s *Server) URL() string { return "http://127.0.0.1:" + strconv.Itoa(s.opts.Port) }

// TLSURL is "https://127.0.0.1:<TLS.Port>", "" without Options.TLS.
func (s *Server) TLSURL() string {
	if s.opts.TLS == nil {
		return ""
	}
	return "https://127.0.0.1:" + strconv.Itoa(s.opts.TLS.Port)
}

// Port is the port httpd listens on, on 127.0.0.1.
func (s *Server) Port() int { return s.opts.Port }

// PID is the httpd parent's process id, 0 before it started.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Options returns the options with defaults applied.
func (s *Server) Options() Options { return s.opts }

// Dir is the ServerRoot, holding httpd.conf and the logs.
func (s *Server) Dir() string { return s.dir }

// ConfigPath is the generated httpd.conf.
func (s *Server) ConfigPath() string { return filepath.Join(s.dir, "httpd.conf") }

// ErrorLog returns httpd's error log so far, followed by mod_jk's log in
// ModeJK.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "error_log"))
	if s.opts.Mode == ModeJK {
		jk, _ := os.ReadFile(filepath.Join(s.dir, "mod_jk.log"))
		b = append(append(b, "--- mod_jk.log ---\n"...), jk...)
	}
	return string(b)
}

// diagnostics is httpd's console output and the tail of its logs.
func (s *Server) diagnostics() string {
	out, _ := os.ReadFile(filepath.Join(s.dir, "stderr.log"))
	return fmt.Sprintf("--- httpd output ---\n%s--- tail of error log ---\n%s", out, harness.Tail(s.ErrorLog(), 40)+"\n")
}

func (s *Server) removeDir() {
	if os.Getenv("APACHETEST_KEEP") != "1" {
		_ = os.RemoveAll(s.dir)
	}
}

// Command ajpdemo is what `make demo` runs: it starts Tomcat with the sample
// application on AJP port 8010, writes a Caddyfile that serves it through the
// AJP transport on https://localhost:8443, runs the Caddy binary built with
// caddy-ajp, and stops everything on Ctrl-C.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/caddy-ajp/caddy-ajp/internal/tomcattest"
)

const caddyfile = `{
	http_port 8080
	https_port 8443
	default_bind 127.0.0.1
	skip_install_trust
}

localhost:8443 {
	redir / /share/
	reverse_proxy 127.0.0.1:8010 {
		transport ajp {
			secret {env.AJP_SECRET}
		}
	}
}
`

func main() {
	caddyBin := flag.String("caddy", "bin/caddy", "the Caddy binary built with caddy-ajp")
	dir := flag.String("dir", ".demo", "working directory for Tomcat's base, Caddy's data and logs")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("demo: ")
	if err := run(*caddyBin, *dir); err != nil {
		log.Fatal(err)
	}
}

func run(caddyBin, dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	secret := os.Getenv("AJP_SECRET")
	if secret == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		secret = hex.EncodeToString(b)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Printf("starting Tomcat (jvmRoute tomcat1, AJP on 127.0.0.1:8010) ...")
	base := filepath.Join(dir, "tomcat1")
	_ = os.RemoveAll(base)
	node, err := tomcattest.Start(ctx, tomcattest.Options{
		Name:     "tomcat1",
		BaseDir:  base,
		Keep:     true,
		AJPPort:  8010,
		Secret:   secret,
		JvmRoute: "tomcat1",
	})
	if err != nil {
		return fmt.Errorf("starting Tomcat: %w", err)
	}
	defer func() {
		log.Printf("stopping Tomcat (pid %d)", node.PID())
		_ = node.Stop()
	}()

	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(caddyfile), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(caddyBin, "run", "--config", cf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(),
		"AJP_SECRET="+secret,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	logf, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting Caddy: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	fmt.Printf(`
  caddy-ajp demo is running.

    Open   https://localhost:8443/share/        (the sample app, served by Tomcat over AJP)
           https://localhost:8443/share/echo.jsp (what the servlet sees of your request)
    Or     curl -k https://localhost:8443/share/session.jsp

  The certificate comes from Caddy's local CA (not installed in your trust
  store): accept it in the browser, or use curl -k.
  Config: %s   Caddy log: %s   Tomcat log: %s

  Press Ctrl-C to stop Caddy and Tomcat.
`, cf, logf.Name(), node.LogPath())

	select {
	case <-ctx.Done():
		log.Printf("stopping Caddy (pid %d)", cmd.Process.Pid)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		return nil
	case err := <-exited:
		return fmt.Errorf("caddy exited: %v (see %s)", err, logf.Name())
	}
}

// Command ajpdemo is what `make demo` runs: it starts the user's two-node
// Tomcat cluster (AJP on 8010/8011, jvmRoute tomcat1/tomcat2, session
// replication) with the sample application, writes a Caddyfile that serves
// it through the AJP transport and the sticky_route policy on
// https://localhost:8443 (http://localhost:8080 redirects there; Caddy's
// admin API is on 127.0.0.1:2019), runs the Caddy binary built with
// caddy-ajp, and stops everything on Ctrl-C. Everything listens on
// 127.0.0.1 only.
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

	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

const caddyfile = `{
	http_port 8080
	https_port 8443
	default_bind 127.0.0.1
	skip_install_trust
	# Caddy's own HTTP->HTTPS redirect leaves out the port when it is
	# https_port (it assumes clients reach that port as 443), so it would
	# send http://localhost:8080/ to https://localhost/, where nothing
	# listens. The site below redirects instead.
	auto_https disable_redirects
}

# Plain HTTP on :8080, whatever the Host (localhost, 127.0.0.1), goes to
# the one HTTPS site.
http://:8080 {
	redir https://localhost:8443{uri} permanent
}

localhost:8443 {
	redir / /share/
	# Apache: <Proxy balancer://app> BalancerMember … route=… </Proxy>
	#         ProxyPass /share balancer://app stickysession=JSESSIONID|jsessionid
	ajp_balancer /share* {
		name app
		member ajp://127.0.0.1:8010/share route=tomcat1
		member ajp://127.0.0.1:8011/share route=tomcat2
		stickysession JSESSIONID|jsessionid
		secret {env.AJP_SECRET}
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

	log.Printf("starting Tomcat nodes tomcat1 (AJP 127.0.0.1:8010) and tomcat2 (AJP 127.0.0.1:8011) with session replication ...")
	var opts []tomcattest.Options
	for i, name := range []string{"tomcat1", "tomcat2"} {
		base := filepath.Join(dir, name)
		_ = os.RemoveAll(base)
		opts = append(opts, tomcattest.Options{
			Name:     name,
			BaseDir:  base,
			Keep:     true,
			AJPPort:  8010 + i,
			Secret:   secret,
			JvmRoute: name,
		})
	}
	nodes, err := tomcattest.StartCluster(ctx, opts)
	if err != nil {
		return fmt.Errorf("starting Tomcat: %w", err)
	}
	defer func() {
		for _, n := range nodes {
			log.Printf("stopping %s (pid %d)", n.Name(), n.PID())
			_ = n.Stop()
		}
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

    Open   https://localhost:8443/share/         the sample app: it counts your requests
                                                  in the session and names the node
           https://localhost:8443/share/echo.jsp  what the servlet sees of your request
    Or     curl -k -c jar -b jar https://localhost:8443/share/session.jsp
           (http://localhost:8080/ redirects to https://localhost:8443/)

  Failover: note the node serving you, then kill it
           kill -9 %d    (tomcat1)      kill -9 %d    (tomcat2)
  and reload the page: the other node continues your session, the count goes on.

  Runtime control (Caddy's admin API; no reload): drain tomcat1, watch it until
  in_flight is 0 (safe to stop), then put it back
           curl -s -X POST -H 'Content-Type: application/json' -d '{"status":"drain"}' \
                http://127.0.0.1:2019/ajp/balancers/app/members/tomcat1
           curl -s http://127.0.0.1:2019/ajp/balancers/app
           curl -s -X POST -H 'Content-Type: application/json' -d '{"status":null}' \
                http://127.0.0.1:2019/ajp/balancers/app/members/tomcat1

  The certificate comes from Caddy's local CA (not installed in your trust
  store): accept it in the browser, or use curl -k.
  Config: %s   Caddy log: %s   Tomcat logs: %s, %s

  Press Ctrl-C to stop Caddy and both Tomcat nodes.
`, nodes[0].PID(), nodes[1].PID(), cf, logf.Name(), nodes[0].LogPath(), nodes[1].LogPath())

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

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/caddy-ajp/caddy-ajp/tools/apachetest"
	"github.com/caddy-ajp/caddy-ajp/tools/harness"
	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

// The front ends, in the order of the report. apacheProxyAJP is the
// baseline every ratio refers to.
const (
	apacheProxyAJP = "apache-proxy_ajp"
	apacheDebian   = "apache-proxy_ajp-debian" // the same, with Debian's MPM and keep-alive settings
	apacheJK       = "apache-mod_jk"
	caddyHTTP      = "caddy-http"
	caddyAJP       = "caddy-ajp"
	caddyAJPB      = "caddy-ajp-b" // caddy-ajp's configuration on the -caddy-b binary, for an A/B
	tomcatDirect   = "tomcat-direct"
)

// allFrontends are the front ends of a default run.
var allFrontends = []string{apacheProxyAJP, apacheDebian, apacheJK, caddyHTTP, caddyAJP, tomcatDirect}

// frontendOrder is every front end in the order of the report: caddyAJPB,
// which runs only with -caddy-b, beside caddyAJP.
var frontendOrder = []string{apacheProxyAJP, apacheDebian, apacheJK, caddyHTTP, caddyAJP, caddyAJPB, tomcatDirect}

// apacheSizings are the Apache front ends the targets take the better of.
var apacheSizings = []string{apacheProxyAJP, apacheDebian}

// frontend is one target of the load generators.
type frontend struct {
	Name   string
	URL    string // http://127.0.0.1:port
	TLSURL string // https://127.0.0.1:port (HTTP/1.1 and HTTP/2), "" for none
	Desc   string
	Config string     // the configuration, for the report (secret redacted)
	pid    func() int // the proxy's process; 0 for tomcat-direct
	stop   func() error
}

// apacheTuning replaces apachetest's test MPM (one child, 25 threads) with an
// event MPM that holds 1000 busy keep-alive connections on 2 cores: 4 child
// processes of 512 worker threads, all started at once and never reaped
// during a run (MaxSpareThreads = MaxRequestWorkers). A worker is held for
// the whole of a proxied request, and the kernel spreads wrk's 1000
// connections unevenly over the children: with 256 threads per child, a
// child whose workers were all busy closed all its idle keep-alive
// connections (event.c: process_keepalive_queue(0) when workers_were_busy),
// which wrk counted as read errors; with 512 each child can serve every
// connection it accepted. Keep-alive requests per connection are unlimited,
// as in Caddy and Tomcat's connectors here (Apache's default of 100 would
// make wrk reconnect every 100 requests), and the listen backlog fits 1000
// connections opened at once. The proxy modules' connection pools keep their
// defaults (up to ThreadsPerChild connections per child and member).
const apacheTuning = `StartServers 4
ServerLimit 4
ThreadLimit 512
ThreadsPerChild 512
MaxRequestWorkers 2048
MinSpareThreads 64
MaxSpareThreads 2048
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 5
ListenBacklog 1024`

// debianMPMFile is Debian's event MPM sizing, as apache2 ships it.
const debianMPMFile = "/etc/apache2/mods-available/mpm_event.conf"

// debianFallbackMPM is that file's content in Debian 12, used when the file
// is missing.
const debianFallbackMPM = `StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0`

// debianTuning is Apache as Debian ships it: the directives of
// mods-available/mpm_event.conf, the keep-alive settings of apache2.conf
// (KeepAlive On, MaxKeepAliveRequests 100, KeepAliveTimeout 5, Timeout
// 300), and ServerLimit at httpd's compiled-in 16, which Debian leaves
// alone (apachetest's base config sets 1 for its tests).
func debianTuning() string {
	mpm := debianFallbackMPM
	if b, err := os.ReadFile(debianMPMFile); err == nil {
		var lines []string
		for line := range strings.SplitSeq(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "<") {
				lines = append(lines, strings.Join(strings.Fields(line), " "))
			}
		}
		mpm = strings.Join(lines, "\n")
	}
	return "# " + debianMPMFile + "\n" + mpm + "\nServerLimit 16\n# apache2.conf\nTimeout 300\nKeepAlive On\nMaxKeepAliveRequests 100\nKeepAliveTimeout 5"
}

// caddyGlobal are the global options of the Caddy front ends: no admin
// endpoint (several Caddys would all want :2019) unless admin names an
// address of its own (the caddy-ajp being profiled), plain HTTP on
// 127.0.0.1, warnings only. Caddy writes no access log unless a site asks
// for one.
func caddyGlobal(admin string) string {
	if admin == "" {
		admin = "off"
	}
	return fmt.Sprintf(`{
	admin %s
	auto_https off
	default_bind 127.0.0.1
	log {
		level WARN
	}
}
`, admin)
}

// caddySites serves handler on a plain HTTP port and on an HTTPS port with
// the run's certificate, TLS 1.3 and X25519 only, as Apache's listener.
// Caddy allows no tls in a block that also serves http://, hence a snippet.
// The HTTPS site keeps Caddy's defaults otherwise: HTTP/1.1, HTTP/2 and
// HTTP/3 (a UDP listener on the same port, announced by Alt-Svc). admin is
// the admin endpoint's address, "" for none.
func caddySites(port, tlsPort int, admin string, cert benchCert, handler string) string {
	return caddyGlobal(admin) + fmt.Sprintf(`
(app) {
%s}

http://:%d {
	import app
}

https://:%d {
	tls %s %s {
		protocols tls1.3
		curves x25519
	}
	import app
}
`, handler, port, tlsPort, cert.CertFile, cert.KeyFile)
}

// caddyHTTPConfig is stock reverse_proxy over HTTP to the nodes' HTTP
// connectors (Caddy's default HTTP transport: at most 32 idle connections
// per upstream).
func caddyHTTPConfig(port, tlsPort int, cert benchCert, nodes []*tomcattest.Node) string {
	return caddySites(port, tlsPort, "", cert, fmt.Sprintf(`	reverse_proxy /share* %s %s {
		lb_policy round_robin
	}
`, hostPort(nodes[0].HTTPURL()), hostPort(nodes[1].HTTPURL())))
}

// caddyAJPConfig is the user's Apache balancer as ajp_balancer; admin as
// for caddySites.
func caddyAJPConfig(port, tlsPort int, admin string, cert benchCert, nodes []*tomcattest.Node) string {
	return caddySites(port, tlsPort, admin, cert, fmt.Sprintf(`	ajp_balancer /share* {
		member ajp://%s/share route=%s
		member ajp://%s/share route=%s
		stickysession JSESSIONID|jsessionid
		secret {env.AJP_SECRET}
	}
`, nodes[0].AJPAddr(), nodes[0].JvmRoute(), nodes[1].AJPAddr(), nodes[1].JvmRoute()))
}

func hostPort(url string) string { return strings.TrimPrefix(url, "http://") }

// startApache starts one Apache front end (apacheProxyAJP, apacheDebian or
// apacheJK) balancing the nodes' AJP connectors, with an HTTPS listener
// (mod_ssl, mod_http2: h2 and http/1.1) on the run's certificate.
func startApache(ctx context.Context, name, secret string, cert benchCert, nodes []*tomcattest.Node) (*frontend, error) {
	mode := apachetest.ModeProxyAJP
	desc := "Apache httpd, mod_proxy_ajp + mod_proxy_balancer (stickysession=JSESSIONID|jsessionid, secret), event MPM sized for the benchmark (see below); HTTPS: mod_ssl + mod_http2"
	tuning := apacheTuning
	switch name {
	case apacheJK:
		mode = apachetest.ModeJK
		desc = "Apache httpd, mod_jk lb worker (sticky_session, secret), event MPM sized for the benchmark; HTTPS: mod_ssl + mod_http2"
	case apacheDebian:
		desc = "the same Apache and mod_proxy_ajp with the event MPM and keep-alive settings Debian ships (" + debianMPMFile + ", apache2.conf: at most 150 workers, 100 requests per connection)"
		tuning = debianTuning()
	}
	var members []apachetest.Member
	for _, n := range nodes {
		members = append(members, apachetest.Member{Addr: n.AJPAddr(), Route: n.JvmRoute()})
	}
	s, err := apachetest.Start(ctx, apachetest.Options{
		Mode:        mode,
		Members:     members,
		Secret:      secret,
		Path:        "/share",
		LogLevel:    "warn",
		ExtraConfig: tuning,
		TLS:         &apachetest.TLS{CertFile: cert.CertFile, KeyFile: cert.KeyFile, Curves: "X25519", HTTP2: true},
	})
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	conf, _ := os.ReadFile(s.ConfigPath())
	config := string(conf)
	if mode == apachetest.ModeJK {
		w, _ := os.ReadFile(filepath.Join(s.Dir(), "workers.properties"))
		config += "\n# workers.properties\n" + string(w)
	}
	return &frontend{
		Name:   name,
		URL:    s.URL(),
		TLSURL: s.TLSURL(),
		Desc:   desc,
		Config: strings.ReplaceAll(config, secret, "<secret>"),
		pid:    s.PID,
		stop:   s.Stop,
	}, nil
}

// freePorts is n distinct free ports on 127.0.0.1.
func freePorts(n int) ([]int, error) {
	var ports []int
	for len(ports) < n {
		p, err := harness.FreePort()
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// caddyProcess is a running bin/caddy.
type caddyProcess struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd is reaped
	logPath string
}

// startCaddy runs `caddy run` on caddyfile in dir and waits until url
// answers.
func startCaddy(ctx context.Context, bin, dir, caddyfile string, env []string, url string) (*caddyProcess, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(caddyfile), 0o644); err != nil {
		return nil, err
	}
	p := &caddyProcess{logPath: filepath.Join(dir, "caddy.log"), done: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", cf, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group (Ctrl-C reaches ajpbench, which stops it), and
	// SIGKILL should ajpbench die without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p.cmd = cmd
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	if _, err := harness.WaitHTTP(ctx, url, p.done, 20*time.Second); err != nil {
		_ = p.Stop()
		log, _ := os.ReadFile(p.logPath)
		return nil, fmt.Errorf("caddy (%s): %w\n--- %s ---\n%s", cf, err, p.logPath, harness.Tail(string(log), 30))
	}
	return p, nil
}

// PID is Caddy's process id.
func (p *caddyProcess) PID() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM, waits up to 10 s, then SIGKILLs the process group;
// Caddy is always reaped. Stop is idempotent.
func (p *caddyProcess) Stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("caddy %d did not stop within 10s, killed", p.cmd.Process.Pid)
	}
}

// Package integration runs caddy-ajp inside a real Caddy (in-process, through
// Caddy's caddytest harness) in front of real Tomcat 10.1 nodes. Nothing
// here skips when Tomcat or Caddy is missing: the run fails.
package integration

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddy-ajp/caddy-ajp"
	"github.com/caddy-ajp/caddy-ajp/tools/harness"
	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

const secret = "s3cr3t-for-tests"

// The in-process Caddy's ports, free ones picked by TestMain. Not fixed
// ports (caddytest's 2999, the usual 9080 and 9443): Caddy listens with
// SO_REUSEPORT, so two runs on one machine (`make test` in two checkouts)
// would share them and answer each other's requests and config loads.
var (
	adminPort, httpPort, httpsPort int
	// httpAddr is "127.0.0.1:<httpPort>"; httpBase and httpsBase are the
	// origins of the test sites, http://127.0.0.1:<httpPort> and
	// https://localhost:<httpsPort>.
	httpAddr, httpBase, httpsBase string
)

// tomcat is the node the transport tests share: AJP with a secret, /share
// and /private deployed.
var tomcat *tomcattest.Node

// caddyLog is the file the in-process Caddy logs to (JSON, debug level).
var caddyLog string

// logSince returns what Caddy logged after offset, and the new offset.
func logSince(t *testing.T, off int64) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(caddyLog)
	if os.IsNotExist(err) {
		return "", 0
	}
	if err != nil {
		t.Fatalf("reading Caddy's log: %v", err)
	}
	if off > int64(len(b)) {
		off = 0
	}
	return string(b[off:]), int64(len(b))
}

// logOffset is where Caddy's log ends now.
func logOffset(t *testing.T) int64 {
	_, off := logSince(t, 0)
	return off
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		// No servers under -short: every test calls skipIfShort (itself or
		// through loadCaddyfile or caddyBinary) before it touches tomcat.
		return m.Run()
	}
	// Caddy's own state (internal CA, certificates) goes to a scratch home.
	tmp, err := os.MkdirTemp("", "caddy-ajp-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	os.Setenv("XDG_DATA_HOME", tmp+"/data")
	os.Setenv("XDG_CONFIG_HOME", tmp+"/config")
	os.Setenv("AJP_TEST_SECRET", secret)
	os.Setenv("CADDY_IT_LOG", tmp+"/caddy.log")
	caddyLog = tmp + "/caddy.log"

	for _, p := range []*int{&adminPort, &httpPort, &httpsPort} {
		if *p, err = harness.FreePort(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	httpAddr = fmt.Sprintf("127.0.0.1:%d", httpPort)
	httpBase = "http://" + httpAddr
	httpsBase = fmt.Sprintf("https://localhost:%d", httpsPort)
	caddytest.Default.AdminPort = adminPort

	if err := startCaddy(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "FATAL: in-process Caddy did not start:", err)
		return 1
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port, err := harness.FreePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tomcat, err = tomcattest.Start(ctx, tomcattest.Options{
		Name:    "tomcat-it",
		AJPPort: port,
		Secret:  secret,
		Webapps: []tomcattest.Webapp{tomcattest.ShareWebapp(), tomcattest.PrivateWebapp()},
		// tomcatAuthentication=false: Tomcat takes remote_user from the
		// proxy; the pattern admits the test's own request attributes
		AJPConnectorAttrs:               map[string]string{"allowTrace": "true", "tomcatAuthentication": "false"},
		AllowedRequestAttributesPattern: `caddy\.test\..*`,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "FATAL: Tomcat did not start (run `apt-get install tomcat10`):", err)
		return 1
	}
	defer tomcat.Stop()
	return m.Run()
}

// startCaddy runs Caddy in this process the way caddytest does, but fails
// instead of letting caddytest skip every test when it cannot start.
func startCaddy(tmp string) error {
	cfg := tmp + "/init.caddyfile"
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("{\n\tadmin 127.0.0.1:%d\n}\n", adminPort)), 0o600); err != nil {
		return err
	}
	os.Args = []string{"caddy", "run", "--config", cfg, "--adapter", "caddyfile"}
	go caddycmd.Main()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/config/", adminPort))
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("admin API on 127.0.0.1:%d did not come up", adminPort)
}

// globals are the options every test config starts with: everything on
// 127.0.0.1, the run's ports, no trust-store changes.
const globals = `{
	admin 127.0.0.1:{ADMIN_PORT}
	http_port {HTTP_PORT}
	https_port {HTTPS_PORT}
	default_bind 127.0.0.1
	grace_period 10s
	skip_install_trust
	local_certs
	log {
		# not rolled: a test that counts log lines must see all of them
		# (Caddy rolls at 100 MiB, which a DEBUG run under load reaches)
		output file {$CADDY_IT_LOG} {
			roll_disabled
		}
		format json
		level DEBUG
	}
}
`

// expand fills in a test Caddyfile: {AJP} is the shared Tomcat's AJP
// address, {ADMIN_PORT}, {HTTP_PORT} and {HTTPS_PORT} the run's ports.
func expand(caddyfile string) string {
	return strings.NewReplacer(
		"{AJP}", tomcat.AJPAddr(),
		"{ADMIN_PORT}", strconv.Itoa(adminPort),
		"{HTTP_PORT}", strconv.Itoa(httpPort),
		"{HTTPS_PORT}", strconv.Itoa(httpsPort),
	).Replace(caddyfile)
}

// loadCaddyfile loads a config made of globals and the given site blocks,
// expanded.
func loadCaddyfile(t *testing.T, sites string) *caddytest.Tester {
	t.Helper()
	skipIfShort(t)
	tc := caddytest.NewTester(t)
	off := logOffset(t)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := logSince(t, off)
			var keep []string
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, `"level":"error"`) || strings.Contains(l, `"level":"warn"`) || strings.Contains(l, "ajp") {
					keep = append(keep, l)
				}
			}
			if len(keep) > 40 {
				keep = keep[len(keep)-40:]
			}
			t.Logf("Caddy's log (errors, warnings, AJP) since this test's config:\n%s", strings.Join(keep, "\n"))
		}
	})
	cfg := expand(globals + sites)
	tc.InitServer(cfg, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	return tc
}

// skipIfShort skips integration tests under -short (make unit); in every
// other run, a missing Tomcat or Caddy fails them.
func skipIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs without -short")
	}
}

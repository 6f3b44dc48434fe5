package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-ajp/caddy-ajp/tools/apachetest"
)

// loadApacheConfig adapts the httpd configuration Apache runs from (the
// same files: httpd.conf and, for mod_jk, its workers.properties) with the
// apache adapter, moves its one server to this run's HTTP port (Apache
// holds its own), puts the test's admin and log settings around it, and
// loads it into the in-process Caddy.
func loadApacheConfig(t *testing.T, apache *apachetest.Server) {
	t.Helper()
	skipIfShort(t)
	body, err := os.ReadFile(apache.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := caddyconfig.GetAdapter("apache").Adapt(body, map[string]any{"filename": apache.ConfigPath()})
	if err != nil {
		t.Fatalf("adapting %s: %v", apache.ConfigPath(), err)
	}
	for _, w := range warnings {
		if strings.Contains(w.Message, "NOT translated") {
			t.Logf("adapter: %s:%d: %s: %s", w.File, w.Line, w.Directive, w.Message)
		}
	}
	var adapted struct {
		Apps struct {
			HTTP struct {
				Servers map[string]map[string]any `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &adapted); err != nil {
		t.Fatal(err)
	}
	if len(adapted.Apps.HTTP.Servers) != 1 {
		t.Fatalf("the adapter made %d servers from Apache's one Listen: %s", len(adapted.Apps.HTTP.Servers), out)
	}
	base, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(expand(globals)), nil)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(base, &cfg); err != nil {
		t.Fatal(err)
	}
	apps, _ := cfg["apps"].(map[string]any)
	if apps == nil {
		apps = map[string]any{}
		cfg["apps"] = apps
	}
	httpApp, _ := apps["http"].(map[string]any)
	if httpApp == nil {
		httpApp = map[string]any{}
		apps["http"] = httpApp
	}
	for name, srv := range adapted.Apps.HTTP.Servers {
		want := "127.0.0.1:" + strconv.Itoa(apache.Port())
		if l, _ := srv["listen"].([]any); len(l) != 1 || l[0] != want {
			t.Fatalf("server %s listens on %v, want Apache's Listen %s", name, srv["listen"], want)
		}
		srv["listen"] = []string{httpAddr}
	}
	httpApp["servers"] = adapted.Apps.HTTP.Servers
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Post(fmt.Sprintf("http://127.0.0.1:%d/load", adminPort), "application/json", strings.NewReader(string(js)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("loading the adapted config: %d %s\n%s", resp.StatusCode, msg, js)
	}
	waitUp(t, httpBase+"/share/tiny.jsp")
}

// waitUp waits until a URL answers 200 (active health checks admit the
// members a moment after a load).
func waitUp(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 15 s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAdapterProxyAJPServletSeesTheSame: Apache with mod_proxy_ajp and
// Caddy adapted from Apache's own httpd.conf give the servlet the same view
// of every request shape of the comparison test, up to its list of
// deliberate differences.
func TestAdapterProxyAJPServletSeesTheSame(t *testing.T) {
	skipIfShort(t)
	apache := apachetest.StartT(t, apachetest.Options{
		Mode:    apachetest.ModeProxyAJP,
		Members: []apachetest.Member{{Addr: tomcat.AJPAddr(), Route: "tomcat1"}},
		Secret:  secret,
	})
	loadApacheConfig(t, apache)
	for _, shape := range requestShapes() {
		t.Run(shape.name, func(t *testing.T) {
			checkSameView(t, "Apache", knownDifferences, shape.name, roundTripRaw(t, apache.Port(), shape), roundTripRaw(t, httpPort, shape))
		})
	}
}

// TestAdapterModJKServletSeesTheSame: Apache with mod_jk and Caddy adapted
// from Apache's own httpd.conf and workers.properties give the servlet the
// same view of every request shape, up to the differences listed for
// mod_proxy_ajp that mod_jk shares and those of mod_jk's own
// (jkDifferences).
func TestAdapterModJKServletSeesTheSame(t *testing.T) {
	skipIfShort(t)
	apache := apachetest.StartT(t, apachetest.Options{
		Mode:    apachetest.ModeJK,
		Members: []apachetest.Member{{Addr: tomcat.AJPAddr(), Route: "tomcat1"}},
		Secret:  secret,
	})
	loadApacheConfig(t, apache)
	t.Logf("Apache mod_jk on port %d, caddy-ajp on port %d", apache.Port(), httpPort)
	known := append(append([]knownDifference(nil), jkDifferences...), knownDifferences...)
	for _, shape := range requestShapes() {
		t.Run(shape.name, func(t *testing.T) {
			if shape.name == "TRACE" {
				// Apache's core answers TRACE itself in front of mod_jk
				// (TraceEnable); caddy-ajp forwards it to the servlet.
				av := roundTripRaw(t, apache.Port(), requestShape{name: shape.name, raw: shape.raw})
				cv := roundTripRaw(t, httpPort, shape)
				if av.status != 200 || !strings.Contains(av.items["response.body"], "TRACE /share/echo.jsp") || cv.status != 200 {
					t.Errorf("TRACE: Apache %d (want its own echo of the request), caddy-ajp %d (want echo.jsp)\n%s\n%s", av.status, cv.status, av.dump, cv.dump)
				}
				return
			}
			checkSameView(t, "Apache mod_jk", known, shape.name, roundTripRaw(t, apache.Port(), shape), roundTripRaw(t, httpPort, shape))
		})
	}
}

// checkSameView fails the test on every difference between the servlet's
// view through Apache (apache, named so in the message) and through
// caddy-ajp that the known differences do not explain.
func checkSameView(t *testing.T, apacheName string, known []knownDifference, shape string, av, cv frontView) {
	t.Helper()
	var unexplained []string
	for _, d := range compareViewsWith(known, shape, av, cv) {
		if d.known == nil {
			unexplained = append(unexplained, fmt.Sprintf("%s:\n\tApache:    %s\n\tcaddy-ajp: %s", d.key, d.apache, d.caddy))
		}
	}
	if len(unexplained) > 0 {
		t.Errorf("unexplained differences:\n%s\n--- through %s ---\n%s\n--- through caddy-ajp ---\n%s",
			strings.Join(unexplained, "\n"), apacheName, av.dump, cv.dump)
	}
}

// jkDifferences are the deliberate differences between mod_jk and
// caddy-ajp that mod_proxy_ajp does not have (AJP.md's table of the two).
var jkDifferences = []knownDifference{
	{key: `servlet\.(contentLength|header\.content-length|headerName\.content-length)`,
		holds: func(_, a, c string) bool {
			return (a == "0" || a == `["0"]` || a == "content-length") && (c == "-1" || c == absent)
		},
		reason: "mod_jk sends Content-Length: 0 with every request that has no body; caddy-ajp sends the client's (none)"},
	{key: `response\.header\.Content-Length`, holds: func(_, a, c string) bool { return a != absent && c != absent },
		reason: "mod_jk keeps Tomcat's Content-Length, as caddy-ajp does; echo.jsp's answer is longer through caddy-ajp because it echoes the X-Forwarded-*/Via headers Caddy adds"},
	{key: `servlet\.headerName\.accept-(language|charset|encoding)`, holds: func(_, a, c string) bool { return strings.EqualFold(a, c) },
		reason: "mod_jk sends these headers by name in the client's spelling; caddy-ajp (and mod_proxy_ajp) send the AJP header code, which Tomcat reports in lower case. Names are case-insensitive"},
	{key: `response\.header\.Content-Type`, shapes: `status 204`, holds: caddyOnly,
		reason: "mod_jk drops the Content-Type Tomcat sends with a 204; caddy-ajp relays Tomcat's headers as sent"},
	{key: `servlet\.localPort`, shapes: `Host with.*`,
		reason: "mod_jk sends the Host header's port (80 without one) as server_port; caddy-ajp, like mod_proxy_ajp, the port the front end accepted the connection on"},
	{key: `response\..*`, shapes: `path parameter on a dot segment`, holds: statusWas(403, 400),
		reason: "both refuse /share/..;/private/: mod_jk with 403 (its unsafe-URI check), caddy-ajp with 400"},
	{key: `response\..*`, shapes: `header of 8000 bytes`, holds: statusWas(413, 400),
		reason: "both refuse a header block larger than the packet: mod_jk with 413, caddy-ajp (and mod_proxy_ajp) with 400 (AJP.md)"},
}

// TestAdapterProxyAJPFailsOverAndReversesLikeApache and its mod_jk twin:
// on a two-node cluster, a session started through Apache and one started
// through the adapted Caddy stick to their node, continue on the other when
// it is SIGKILLed, and redirect.jsp's Location reads the same.
func TestAdapterProxyAJPFailsOverAndReversesLikeApache(t *testing.T) {
	adapterFailover(t, apachetest.ModeProxyAJP)
}

func TestAdapterModJKFailsOverAndReversesLikeApache(t *testing.T) {
	adapterFailover(t, apachetest.ModeJK)
}

func adapterFailover(t *testing.T, mode string) {
	skipIfShort(t)
	nodes := balancerNodes(t, nil)
	apache := apachetest.StartT(t, apachetest.Options{
		Mode: mode,
		Members: []apachetest.Member{
			{Addr: nodes[0].AJPAddr(), Route: "tomcat1"},
			{Addr: nodes[1].AJPAddr(), Route: "tomcat2"},
		},
		Secret: secret,
	})
	loadApacheConfig(t, apache)
	apacheBase := apache.URL()

	// ProxyPassReverse / redirects: the same Location, each with its own origin
	for name, base := range map[string]string{"Apache": apacheBase, "caddy-ajp": httpBase} {
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(base + "/share/redirect.jsp")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || loc != base+"/share/echo.jsp" {
			t.Errorf("%s: redirect.jsp gave %d Location %q, want 302 %s/share/echo.jsp", name, resp.StatusCode, loc, base)
		}
	}

	// a session through Apache; one through Caddy on the same node
	ac := newSessionClient(t)
	first, _, err := hit(ac, apacheBase+"/share/session.jsp")
	if err != nil {
		t.Fatalf("through Apache: %v", err)
	}
	home := first.Node
	var cc = newSessionClient(t)
	var cfirst sessionView
	for i := 0; ; i++ {
		cc = newSessionClient(t)
		if cfirst, _, err = hit(cc, httpBase+"/share/session.jsp"); err != nil {
			t.Fatalf("through caddy-ajp: %v", err)
		}
		if cfirst.Node == home {
			break
		}
		if i == 8 {
			t.Fatalf("8 new sessions through caddy-ajp, none on %s: the adapted balancer does not spread sessions", home)
		}
	}
	for i := 2; i <= 5; i++ {
		for name, c := range map[string]*http.Client{"Apache": ac, "caddy-ajp": cc} {
			base := map[string]string{"Apache": apacheBase, "caddy-ajp": httpBase}[name]
			v, _, err := hit(c, base+"/share/session.jsp")
			if err != nil || v.Node != home || v.Count != i {
				t.Fatalf("%s request %d: %+v %v, want count %d on %s", name, i, v, err, i, home)
			}
		}
	}
	dead, survivor := nodeNamed(nodes, home)
	if err := dead.Kill(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*http.Client{"Apache": ac, "caddy-ajp": cc} {
		base := map[string]string{"Apache": apacheBase, "caddy-ajp": httpBase}[name]
		for i := 6; i <= 8; i++ {
			v, _, err := hit(c, base+"/share/session.jsp")
			if err != nil || v.Node != survivor.Name() || v.Count != i {
				t.Fatalf("%s after SIGKILL of %s, request %d: %+v %v, want the same session with count %d on %s",
					name, home, i, v, err, i, survivor.Name())
			}
		}
	}
}

package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"
)

// httpsClient talks to the in-process Caddy's HTTPS port as "localhost",
// trusting whatever certificate Caddy's local CA issued, with a cookie jar.
func httpsClient(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Jar:     jar,
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				_, port, _ := net.SplitHostPort(addr)
				return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
			},
			TLSClientConfig: &tls.Config{ServerName: "localhost", InsecureSkipVerify: true},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// TestAjpBalancerServesTheUsersStoryOverAutomaticHTTPS: the directive from
// the README, a site named by its host and no TLS lines at all.
func TestAjpBalancerServesTheUsersStoryOverAutomaticHTTPS(t *testing.T) {
	skipIfShort(t)
	nodes := balancerNodes(t, nil)
	loadCaddyfile(t, fmt.Sprintf(`
localhost {
	ajp_balancer /share* {
		member ajp://%s/share route=tomcat1
		member ajp://%s/share route=tomcat2
		stickysession JSESSIONID|jsessionid
		secret {env.AJP_TEST_SECRET}
	}
}
`, nodes[0].AJPAddr(), nodes[1].AJPAddr()))
	c := httpsClient(t)
	waitTLS(t, c, httpsBase+"/share/tiny.jsp")

	// HTTP redirects to HTTPS.
	resp, err := c.Get(fmt.Sprintf("http://localhost:%d/share/echo.jsp", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || !strings.HasPrefix(resp.Header.Get("Location"), "https://localhost") {
		t.Errorf("http://: %d to %q, want a redirect to https", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Tomcat sees a secure request and builds https redirects.
	req, _ := http.NewRequest("GET", httpsBase+"/share/echo.jsp", nil)
	e, _ := doEcho(t, c, req)
	if !e.Secure || e.Scheme != "https" {
		t.Errorf("servlet saw secure=%v scheme=%s", e.Secure, e.Scheme)
	}
	resp, err = c.Get(httpsBase + "/share/redirect.jsp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, httpsBase+"/share/") {
		t.Errorf("Tomcat's redirect: %q", loc)
	}

	// The failover story: stick, kill the node, continue the session.
	get := func() sessionView {
		t.Helper()
		v, _, err := hit(c, httpsBase+"/share/session.jsp")
		if err != nil {
			t.Fatalf("session.jsp: %v", err)
		}
		return v
	}
	first := get()
	for i := 2; i <= 5; i++ {
		if v := get(); v.Node != first.Node || v.Count != i {
			t.Fatalf("request %d: %+v", i, v)
		}
	}
	for _, n := range nodes {
		if n.Name() == first.Node {
			if err := n.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if v := get(); v.Node == first.Node || v.Count != 6 || sessionBase(v.ID) != sessionBase(first.ID) {
		t.Fatalf("after killing %s: %+v, want the session to go on at 6 on the other node", first.Node, v)
	}
}

// TestAjpBalancerMapsPathsLikeProxyPass: /app on the front, /share on the
// members; ProxyPassReverse fixes redirects and cookie paths.
func TestAjpBalancerMapsPathsLikeProxyPass(t *testing.T) {
	loadCaddyfile(t, `
http://127.0.0.1:{HTTP_PORT} {
	ajp_balancer /app* {
		member ajp://{AJP}/share route=tomcat-it
		secret {env.AJP_TEST_SECRET}
	}
}
`)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", httpBase+"/app/echo.jsp?q=1", nil)
	e, _ := doEcho(t, c, req)
	if e.RequestURI != "/share/echo.jsp" || e.QueryString == nil || *e.QueryString != "q=1" {
		t.Errorf("servlet saw %s ? %v, want /share/echo.jsp ? q=1", e.RequestURI, e.QueryString)
	}
	resp, err := c.Get(httpBase + "/app/redirect.jsp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != httpBase+"/app/echo.jsp" {
		t.Errorf("redirect Location %q, want %s", loc, httpBase+"/app/echo.jsp")
	}
	resp, err = c.Get(httpBase + "/app/session.jsp")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	if !strings.Contains(sc, "Path=/app") {
		t.Fatalf("session cookie %q, want Path=/app", sc)
	}
	// the browser sends the rewritten cookie back and the session counts on
	v, _, err := hit(c, httpBase+"/app/session.jsp")
	if err != nil {
		t.Fatal(err)
	}
	if v.Count != 2 {
		t.Errorf("second request of the session: %+v, want count 2", v)
	}
	// the ;jsessionid= path parameter works through the mapping too
	v2, _, err := hit(http.DefaultClient, httpBase+"/app/session.jsp;jsessionid="+v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v2.Count != 3 || v2.ID != v.ID {
		t.Errorf("session by path parameter: %+v, want count 3 of %s", v2, v.ID)
	}
	// only the mapped path is reachable: the rest is refused, or falls
	// through to Caddy's empty default response
	for _, p := range []string{"/app/..;/private/", "/APP/echo.jsp", "/share/echo.jsp", "/private/"} {
		req, _ := http.NewRequest("GET", httpBase+p, nil)
		resp, b := do(t, http.DefaultClient, req)
		if (resp.StatusCode < 400 && len(b) > 0) || strings.Contains(string(b), "PRIVATE") {
			t.Errorf("%s: %d %.80q", p, resp.StatusCode, b)
		}
	}
}

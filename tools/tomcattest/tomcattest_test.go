package tomcattest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// echoResponse is what echo.jsp prints.
type echoResponse struct {
	Method             string              `json:"method"`
	RequestURI         string              `json:"requestURI"`
	ContextPath        string              `json:"contextPath"`
	ServletPath        string              `json:"servletPath"`
	PathInfo           *string             `json:"pathInfo"`
	QueryString        *string             `json:"queryString"`
	Protocol           string              `json:"protocol"`
	Scheme             string              `json:"scheme"`
	Secure             bool                `json:"secure"`
	ServerName         string              `json:"serverName"`
	ServerPort         int                 `json:"serverPort"`
	RemoteAddr         string              `json:"remoteAddr"`
	RemotePort         int                 `json:"remotePort"`
	LocalPort          int                 `json:"localPort"`
	ContentLength      int64               `json:"contentLength"`
	ContentType        *string             `json:"contentType"`
	Headers            map[string][]string `json:"headers"`
	Attributes         map[string]any      `json:"attributes"`
	BodyLength         int64               `json:"bodyLength"`
	BodySHA256         string              `json:"bodySHA256"`
	Token              *string             `json:"token"`
	SessionID          *string             `json:"sessionId"`
	RequestedSessionID *string             `json:"requestedSessionId"`
	Node               string              `json:"node"`
}

type sessionResponse struct {
	Count int    `json:"count"`
	Node  string `json:"node"`
	ID    string `json:"id"`
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Tomcat; skipped with -short")
	}
}

func getJSON(t *testing.T, c *http.Client, method, url string, body []byte, v any) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Token", "tok-1")
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: decoding %q: %v", method, url, b, err)
	}
	return resp, b
}

func TestStartServesShareApp(t *testing.T) {
	skipShort(t)
	secret := "s3cr3t-" + hex.EncodeToString([]byte(t.Name()))[:8]
	start := time.Now()
	n := StartT(t, Options{
		Name:     "single",
		AJPPort:  FreePort(t),
		HTTPPort: FreePort(t),
		Secret:   secret,
		Webapps:  []Webapp{ShareWebapp(), PrivateWebapp()},
	})
	t.Logf("node started in %s (pid %d)", time.Since(start).Round(time.Millisecond), n.PID())
	if strings.Contains(n.Log(), secret) {
		t.Errorf("the AJP secret appears in %s", n.LogPath())
	}
	c := &http.Client{Timeout: 30 * time.Second}

	t.Run("echo GET", func(t *testing.T) {
		var e echoResponse
		resp, raw := getJSON(t, c, "GET", n.HTTPURL()+"/share/echo.jsp?attr=x,y", nil, &e)
		t.Logf("echo.jsp: %s", raw)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		if e.Method != "GET" || e.RequestURI != "/share/echo.jsp" || e.ContextPath != "/share" || e.ServletPath != "/echo.jsp" {
			t.Errorf("unexpected request view: %+v", e)
		}
		if e.QueryString == nil || *e.QueryString != "attr=x,y" {
			t.Errorf("queryString %v", e.QueryString)
		}
		if _, ok := e.Attributes["x"]; !ok {
			t.Errorf("attribute x requested via ?attr= is missing: %v", e.Attributes)
		}
		if _, ok := e.Attributes["jakarta.servlet.request.X509Certificate"]; !ok {
			t.Errorf("fixed attributes missing: %v", e.Attributes)
		}
		if e.Token == nil || *e.Token != "tok-1" || e.Node != "single" || e.SessionID != nil {
			t.Errorf("token %v node %q session %v", e.Token, e.Node, e.SessionID)
		}
		if e.ContentLength != -1 || e.BodyLength != 0 {
			t.Errorf("contentLength %d bodyLength %d", e.ContentLength, e.BodyLength)
		}
		if e.Headers["x-token"] == nil {
			t.Errorf("headers lack x-token: %v", e.Headers)
		}
	})

	t.Run("echo POST body", func(t *testing.T) {
		body := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 40000)
		sum := sha256.Sum256(body)
		var e echoResponse
		getJSON(t, c, "POST", n.HTTPURL()+"/share/echo.jsp", body, &e)
		if e.Method != "POST" || e.BodyLength != int64(len(body)) || e.BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("POST: method %s length %d sha %s, want %d %x", e.Method, e.BodyLength, e.BodySHA256, len(body), sum)
		}
		if e.ContentLength != int64(len(body)) {
			t.Errorf("contentLength %d", e.ContentLength)
		}
	})

	t.Run("bytes", func(t *testing.T) {
		for _, chunked := range []bool{false, true} {
			const size, seed = 200_001, 7
			url := n.HTTPURL() + "/share/bytes.jsp?n=200001&seed=7"
			if chunked {
				url += "&chunked=1"
			}
			resp, err := c.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != size {
				t.Fatalf("bytes.jsp (chunked=%v): %d bytes, want %d", chunked, len(b), size)
			}
			if wantCL := int64(size); !chunked && resp.ContentLength != wantCL || chunked && resp.ContentLength != -1 {
				t.Errorf("bytes.jsp (chunked=%v): Content-Length %d", chunked, resp.ContentLength)
			}
			for i, v := range b {
				if v != byte(i*31+seed) {
					t.Fatalf("byte %d = %d, want %d", i, v, byte(i*31+seed))
				}
			}
		}
	})
}

func TestShareAppPages(t *testing.T) {
	skipShort(t)
	n := StartT(t, Options{Name: "pages", AJPPort: FreePort(t), HTTPPort: FreePort(t)})
	c := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(t *testing.T, path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(n.HTTPURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	for _, tc := range []struct {
		code int
		body string
	}{{200, "status 200"}, {204, ""}, {304, ""}, {404, "status 404"}, {500, "status 500"}} {
		resp, body := get(t, fmt.Sprintf("/share/status.jsp?code=%d", tc.code))
		if resp.StatusCode != tc.code || body != tc.body {
			t.Errorf("status.jsp?code=%d: %d %q", tc.code, resp.StatusCode, body)
		}
	}

	resp, body := get(t, "/share/headers.jsp")
	if got := resp.Header.Values("Set-Cookie"); len(got) != 3 || got[0] != "a=1; Path=/share" || got[2] != "c=3" || body != "ok" {
		t.Errorf("headers.jsp: Set-Cookie %q body %q", got, body)
	}
	if got := resp.Header.Values("X-Multi"); strings.Join(got, "|") != "one|two" {
		t.Errorf("headers.jsp: X-Multi %q", got)
	}

	resp, _ = get(t, "/share/redirect.jsp")
	if want := n.HTTPURL() + "/share/echo.jsp"; resp.StatusCode != 302 || resp.Header.Get("Location") != want {
		t.Errorf("redirect.jsp: %d Location %q, want 302 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	resp, body = get(t, "/share/stream.jsp?n=3&delay=10")
	if body != "chunk 0\nchunk 1\nchunk 2\n" || resp.ContentLength != -1 {
		t.Errorf("stream.jsp: %q (Content-Length %d)", body, resp.ContentLength)
	}

	if _, body = get(t, "/share/tiny.jsp"); body != "hello" {
		t.Errorf("tiny.jsp: %q", body)
	}
	if resp, body = get(t, "/share/"); resp.StatusCode != 200 || !strings.Contains(body, "Served by pages") {
		t.Errorf("index.jsp: %d %q", resp.StatusCode, body)
	}
	if resp, _ = get(t, "/private/secret.txt"); resp.StatusCode != 404 {
		t.Errorf("/private is deployed without asking: %d", resp.StatusCode)
	}
}

func TestPrivateWebapp(t *testing.T) {
	skipShort(t)
	n := StartT(t, Options{Name: "private", AJPPort: FreePort(t), HTTPPort: FreePort(t),
		Webapps: []Webapp{ShareWebapp(), PrivateWebapp()}})
	for path, want := range map[string]string{"/private/": "PRIVATE CONTEXT\n", "/private/secret.txt": "PRIVATE FILE\n"} {
		resp, err := http.Get(n.HTTPURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != want {
			t.Errorf("%s: %d %q", path, resp.StatusCode, b)
		}
	}
}

func TestStartAJPOnlyWithOptions(t *testing.T) {
	skipShort(t)
	n := StartT(t, Options{
		Name:              "ajponly",
		AJPPort:           FreePort(t),
		Secret:            "x\"<&'y",
		PacketSize:        65536,
		JvmRoute:          "r1",
		AccessLog:         true,
		AJPConnectorAttrs: map[string]string{"maxThreads": "50"},
		ExtraJVMArgs:      []string{"-Xmx128m", "-XX:+UseParallelGC"},
	})
	ctx := context.Background()
	for _, path := range []string{"/share/tiny.jsp", "/share/echo.jsp"} {
		if status, err := ajpProbe(ctx, n.AJPAddr(), n.Secret(), path); err != nil || status != 200 {
			t.Fatalf("AJP GET %s: %d %v", path, status, err)
		}
	}
	if status, err := ajpProbe(ctx, n.AJPAddr(), "wrong", "/share/echo.jsp"); err == nil && status != 403 {
		t.Errorf("AJP GET with a wrong secret: %d, want 403", status)
	}
	matches, _ := filepath.Glob(filepath.Join(n.BaseDir(), "logs", "access*.txt"))
	if len(matches) != 1 {
		t.Fatalf("access logs: %v", matches)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "/share/echo.jsp") || strings.Contains(string(b), "tiny.jsp") {
		t.Errorf("access log should hold echo.jsp but not tiny.jsp:\n%s", b)
	}
	if !strings.Contains(n.Log(), "-XX:+UseParallelGC") || strings.Contains(n.Log(), "-XX:+UseSerialGC") {
		t.Error("ExtraJVMArgs did not replace the default collector")
	}
}

func TestStartFailsWithLogWhenPortBusy(t *testing.T) {
	skipShort(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(context.Background(), Options{Name: "busy", AJPPort: l.Addr().(*net.TCPAddr).Port})
	if err == nil {
		t.Fatal("Start succeeded on a port in use")
	}
	if !strings.Contains(err.Error(), "tail of") {
		t.Errorf("error lacks the log tail: %v", err)
	}
	t.Logf("error: %v", err)
}

func TestCatalinaHomeMissing(t *testing.T) {
	t.Setenv("CATALINA_HOME", t.TempDir())
	_, err := CatalinaHome()
	if err == nil || !strings.Contains(err.Error(), "apt-get install tomcat10") {
		t.Fatalf("CatalinaHome() error = %v", err)
	}
}

func TestClusterReplicatesSession(t *testing.T) {
	skipShort(t)
	start := time.Now()
	nodes := StartClusterT(t,
		Options{Name: "tomcat1", AJPPort: FreePort(t), HTTPPort: FreePort(t)},
		Options{Name: "tomcat2", AJPPort: FreePort(t), HTTPPort: FreePort(t)},
	)
	t.Logf("2-node cluster started in %s", time.Since(start).Round(time.Millisecond))
	n1, n2 := nodes[0], nodes[1]

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Cookies for 127.0.0.1 are shared across ports, as behind a balancer.
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	step := func(n *Node, wantCount int) sessionResponse {
		t.Helper()
		var s sessionResponse
		getJSON(t, c, "GET", n.HTTPURL()+"/share/session.jsp", nil, &s)
		if s.Count != wantCount || s.Node != n.Name() || !strings.HasSuffix(s.ID, "."+n.JvmRoute()) {
			t.Fatalf("session.jsp on %s = %+v, want count %d on %s with route .%s", n.Name(), s, wantCount, n.Name(), n.JvmRoute())
		}
		return s
	}

	step(n1, 1)
	step(n1, 2)
	if err := n1.Kill(); err != nil {
		t.Fatal(err)
	}
	if n1.Running() || n1.PID() != 0 {
		t.Fatal("node 1 still running after Kill")
	}
	// JvmRouteBinderValve moves the session to tomcat2's route.
	step(n2, 3)

	// Fail back: node 1 comes back, rejoins, and takes over when node 2 dies.
	restart := time.Now()
	if err := n1.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := WaitClusterJoined(context.Background(), n1, n2); err != nil {
		t.Fatal(err)
	}
	t.Logf("node 1 restarted and rejoined in %s", time.Since(restart).Round(time.Millisecond))
	step(n2, 4)
	if err := n2.Kill(); err != nil {
		t.Fatal(err)
	}
	step(n1, 5)
}

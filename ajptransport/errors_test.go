package ajptransport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// observe replaces the transport's logger with one that records everything.
func observe(tr *Transport) *observer.ObservedLogs {
	core, logs := observer.New(zapcore.DebugLevel)
	tr.logger = zap.New(core)
	return logs
}

// TestClientRefusalsArePlainAndLoggedAtDebug: what a client caused is no
// operator's business (DEBUG), and the client learns nothing about the
// backend (no AJP, Tomcat or packet size in the body).
func TestClientRefusalsArePlainAndLoggedAtDebug(t *testing.T) {
	fc := newFakeContainer(t, serveOK)
	manyHeaders := http.Header{}
	for i := range 120 {
		manyHeaders.Set("X-H"+strconv.Itoa(i), "v")
	}
	cases := []struct {
		name   string
		path   string
		header http.Header
		status int
		log    string
	}{
		{"upgrade", "/ws", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, 501, "AJP cannot carry protocol upgrades"},
		{"traversal", "/share/..;/manager/html", nil, 400, "refusing a path"},
		{"too many headers", "/", manyHeaders, 400, "too many request headers"},
		{"headers larger than a packet", "/", http.Header{"X-Big": {strings.Repeat("b", 9000)}}, 400, "do not fit in one AJP packet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTransport(t, nil)
			logs := observe(tr)
			req := httptest.NewRequest("GET", "http://"+fc.addr()+"/", nil)
			req.URL.RawPath, req.URL.Path = c.path, c.path
			if c.path == "/share/..;/manager/html" {
				req.URL.Path = "/share/..;/manager/html"
			}
			for k, v := range c.header {
				req.Header[k] = v
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("round trip: %v, want a refusal answered directly", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			if got, want := string(body), http.StatusText(c.status)+"\n"; got != want {
				t.Errorf("body %q, want the plain status text %q", got, want)
			}
			for _, e := range logs.All() {
				if e.Level > zapcore.DebugLevel {
					t.Errorf("logged at %s: %s", e.Level, e.Message)
				}
			}
			if logs.FilterMessageSnippet(c.log).Len() != 1 {
				t.Errorf("no DEBUG line with %q; got %v", c.log, logs.All())
			}
		})
	}
}

func TestPacketSizeRemedyOnlyWhenItCanGrow(t *testing.T) {
	fc := newFakeContainer(t, serveOK)
	for _, size := range []int{MinPacketSize, MaxPacketSize} {
		tr := newTransport(t, func(tr *Transport) { tr.PacketSize = size })
		logs := observe(tr)
		req := httptest.NewRequest("GET", "http://"+fc.addr()+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("b", size))
		resp, err := tr.RoundTrip(req)
		if err != nil || resp.StatusCode != 400 {
			t.Fatalf("packet_size %d: %v %v, want 400", size, resp, err)
		}
		resp.Body.Close()
		remedy := false
		for _, e := range logs.All() {
			if _, ok := e.ContextMap()["remedy"]; ok {
				remedy = true
			}
		}
		if remedy != (size < MaxPacketSize) {
			t.Errorf("packet_size %d: remedy logged = %v", size, remedy)
		}
	}
}

// TestRejectionSaysWhetherASecretWasSent: Tomcat's 403-and-close means a
// wrong secret only when one was sent. Either way the client gets 502 from
// the transport, not an error that would count against the node (another
// site with the right secret keeps using it).
func TestRejectionSaysWhetherASecretWasSent(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) {
		if _, err := c.next(); err != nil {
			return
		}
		c.sendHeaders(403, "Content-Length", "0")
		c.end(false)
	})
	for _, tc := range []struct {
		mutate func(*Transport)
		want   string
	}{
		{nil, "does not match"},
		{func(tr *Transport) { tr.Secret, tr.InsecureNoSecret = "", true }, "requires a secret and insecure_no_secret sends none"},
	} {
		tr := newTransport(t, tc.mutate)
		logs := observe(tr)
		resp, err := get(t, tr, fc.addr(), "/")
		if err != nil {
			t.Fatalf("round trip: %v, want a 502 answered by the transport", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 502 {
			t.Errorf("status %d, want 502", resp.StatusCode)
		}
		errs := logs.FilterLevelExact(zapcore.ErrorLevel).All()
		if len(errs) != 1 || !strings.Contains(errs[0].ContextMap()["error"].(string), tc.want) {
			t.Errorf("want one ERROR line saying %q, got %v", tc.want, logs.All())
		}
	}
}

// TestSilentConnectorIsCalledStartingNotWrong: a port that accepts and does
// not answer CPING is a Tomcat still starting (or hung), not "not AJP".
func TestSilentConnectorIsCalledStartingNotWrong(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) { _, _ = io.Copy(io.Discard, c.nc) })
	tr := newTransport(t, func(tr *Transport) { tr.PingTimeout = caddy.Duration(100 * time.Millisecond) })
	_, err := get(t, tr, fc.addr(), "/")
	if err == nil || !strings.Contains(err.Error(), "did not answer CPING within ping_timeout (still starting, or hung)") {
		t.Fatalf("error %v", err)
	}
	if strings.Contains(err.Error(), "is it an AJP connector") {
		t.Errorf("a silent connector is called a non-AJP port: %v", err)
	}

	http := newFakeContainer(t, func(c *fakeConn) { _, _ = c.nc.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n")) })
	_, err = get(t, tr, http.addr(), "/")
	if err == nil || !strings.Contains(err.Error(), "is it an AJP connector") {
		t.Fatalf("HTTP port: %v", err)
	}
}

// TestUnrelayableResponsesAreAnsweredNotCounted: a servlet can make Tomcat
// send a status HTTP cannot relay or a Content-Length its body does not
// match. The client gets 502 from the transport; no error reaches
// reverse_proxy, so the node is neither counted as failed nor retried.
func TestUnrelayableResponsesAreAnsweredNotCounted(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		cl     string
		body   string
	}{
		{"status 100", 100, "", ""},
		{"status 101", 101, "", ""},
		{"status 199", 199, "", ""},
		{"status 0", 0, "", ""},
		{"status 1000", 1000, "", ""},
		{"status 65535", 65535, "", ""},
		{"19-digit Content-Length", 200, "1000000000000000000", "short"},
		{"Content-Length over int64", 200, "99999999999999999999", "x"},
		{"body longer than Content-Length", 200, "2", "longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := newFakeContainer(t, func(c *fakeConn) {
				if _, err := c.next(); err != nil {
					return
				}
				if tc.cl != "" {
					c.sendHeaders(tc.status, "Content-Length", tc.cl)
				} else {
					c.sendHeaders(tc.status)
				}
				if tc.body != "" {
					c.sendBody(tc.body)
				}
				c.end(true)
			})
			tr := newTransport(t, nil)
			logs := observe(tr)
			resp, err := get(t, tr, fc.addr(), "/")
			if err != nil {
				t.Fatalf("round trip: %v, want a 502 answered by the transport", err)
			}
			resp.Body.Close()
			if _, ok := resp.Body.(refusalBody); !ok || resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("status %d, want 502 answered by the transport", resp.StatusCode)
			}
			if logs.FilterMessageSnippet("cannot be relayed").Len() != 1 {
				t.Errorf("want one line naming the unrelayable response, got %v", logs.All())
			}
			if fc.acceptedConns() != 1 {
				t.Errorf("%d connections: the request was resent", fc.acceptedConns())
			}
		})
	}
}

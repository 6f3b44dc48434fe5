package ajptransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/ajptransport/ajp"
	"github.com/caddy-ajp/caddy-ajp/ajptransport/internal/ajpspec"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap/zapcore"
)

// newTransport provisions a transport for tests; mutate adjusts it first.
func newTransport(t testing.TB, mutate func(*Transport)) *Transport {
	t.Helper()
	tr := &Transport{Secret: "test-secret", ReadTimeout: caddy.Duration(5 * time.Second)}
	if mutate != nil {
		mutate(tr)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := tr.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { tr.Cleanup() })
	return tr
}

func get(t testing.TB, tr *Transport, addr, path string) (*http.Response, error) {
	t.Helper()
	req := httptest.NewRequest("GET", "http://"+addr+path, nil)
	return tr.RoundTrip(req)
}

// serveOK answers every request on the connection with 200 "ok".
func serveOK(c *fakeConn) {
	for {
		if _, err := c.next(); err != nil {
			return
		}
		c.sendHeaders(200, "Content-Length", "2")
		c.sendBody("ok")
		c.end(true)
	}
}

// recordingContainer answers every request with an empty 200 on a kept
// connection and hands each FORWARD_REQUEST, parsed, to the channel; the
// test takes one from it per request it sends.
func recordingContainer(t *testing.T) (*fakeContainer, <-chan *parsedRequest) {
	got := make(chan *parsedRequest, 1)
	fc := newFakeContainer(t, func(c *fakeConn) {
		for {
			pr, err := c.next()
			if err != nil {
				return
			}
			got <- pr
			c.sendHeaders(200)
			c.end(true)
		}
	})
	return fc, got
}

// fetch GETs path and returns the body, failing the test on any error.
func fetch(t testing.TB, tr *Transport, addr, path string) string {
	t.Helper()
	resp, err := get(t, tr, addr, path)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

func statusOf(err error) int {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

func TestCleanExchangesReuseOneConnection(t *testing.T) {
	fc := newFakeContainer(t, serveOK)
	tr := newTransport(t, nil)
	for i := 0; i < 5; i++ {
		if got := fetch(t, tr, fc.addr(), "/"); got != "ok" {
			t.Fatalf("body %q", got)
		}
	}
	if n := fc.acceptedConns(); n != 1 {
		t.Errorf("5 sequential requests used %d connections, want 1", n)
	}
}

func TestReuseZeroClosesTheConnection(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) {
		for {
			if _, err := c.next(); err != nil {
				return
			}
			c.sendHeaders(200)
			c.sendBody("x")
			c.end(false) // Tomcat's "close after this one"
		}
	})
	tr := newTransport(t, nil)
	for i := 0; i < 3; i++ {
		fetch(t, tr, fc.addr(), "/")
	}
	if n := fc.acceptedConns(); n != 3 {
		t.Errorf("reuse=0 exchanges used %d connections, want 3 (never reused)", n)
	}
}

func TestConnectionClosedWhileIdleIsNotUsed(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) {
		if _, err := c.next(); err != nil {
			return
		}
		c.sendHeaders(200)
		c.sendBody("ok")
		c.end(true) // says reuse, then goes away, like a restarted Tomcat
	})
	tr := newTransport(t, nil)
	fetch(t, tr, fc.addr(), "/")
	time.Sleep(50 * time.Millisecond) // let the close arrive
	if got := fetch(t, tr, fc.addr(), "/"); got != "ok" {
		t.Fatalf("second request: %q", got)
	}
	if n := fc.acceptedConns(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestStalledBackendTimesOutWith504(t *testing.T) {
	release := make(chan struct{})
	fc := newFakeContainer(t, func(c *fakeConn) {
		c.next()
		<-release
	})
	defer close(release)
	tr := newTransport(t, func(tr *Transport) { tr.ReadTimeout = caddy.Duration(200 * time.Millisecond) })
	_, err := get(t, tr, fc.addr(), "/")
	if statusOf(err) != http.StatusGatewayTimeout {
		t.Fatalf("stalled backend: %v (status %d), want 504", err, statusOf(err))
	}
	if n := OpenConnections(); n != 0 {
		t.Errorf("%d connections left open after the timeout", n)
	}
}

func TestMalformedResponseIsAProtocolError(t *testing.T) {
	cases := map[string]func(c *fakeConn){
		"garbage":             func(c *fakeConn) { c.nc.Write([]byte("HTTP/1.1 200 OK\r\n\r\n")) },
		"body before headers": func(c *fakeConn) { c.sendBody("x") },
		"truncated headers":   func(c *fakeConn) { c.write([]byte{ajp.TypeSendHeaders, 0, 200}) },
		"oversized packet":    func(c *fakeConn) { c.nc.Write([]byte{'A', 'B', 0xFF, 0xFF}) },
		"closed mid-headers":  func(c *fakeConn) { c.nc.Write([]byte{'A', 'B', 0, 10, ajp.TypeSendHeaders}) },
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			fc := newFakeContainer(t, func(c *fakeConn) {
				if _, err := c.next(); err != nil {
					return
				}
				answer(c)
			})
			tr := newTransport(t, nil)
			_, err := get(t, tr, fc.addr(), "/")
			if statusOf(err) != http.StatusBadGateway {
				t.Fatalf("%v (status %d), want 502", err, statusOf(err))
			}
		})
	}
}

func TestResponseBodyShorterThanContentLengthFails(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) {
		c.next()
		c.sendHeaders(200, "Content-Length", "10")
		c.sendBody("short")
		c.end(true)
	})
	tr := newTransport(t, nil)
	// a short response is seen before its headers are handed on (they are
	// held until the end of a small response): a 502 instead of a cut body
	// The servlet's doing, not the node's: a 502 answered by the transport,
	// not an error that would count against the node or be retried.
	resp, err := get(t, tr, fc.addr(), "/")
	if err != nil {
		t.Fatalf("short body: %v, want a 502 answered by the transport", err)
	}
	resp.Body.Close()
	if _, ok := resp.Body.(refusalBody); !ok || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("short body: status %d, want 502 from the transport", resp.StatusCode)
	}
}

func TestRefusedConnectionIsADialError(t *testing.T) {
	fc := newFakeContainer(t, serveOK)
	addr := fc.addr()
	fc.close()
	tr := newTransport(t, nil)
	_, err := get(t, tr, addr, "/")
	var de reverseproxy.DialError
	if !errors.As(err, &de) {
		t.Fatalf("refused connection: %T %v, want a DialError so lb_retries can move on", err, err)
	}
}

func TestMaxConnsPerHostBoundsConnections(t *testing.T) {
	gate := make(chan struct{})
	fc := newFakeContainer(t, func(c *fakeConn) {
		for {
			if _, err := c.next(); err != nil {
				return
			}
			<-gate
			c.sendHeaders(200)
			c.sendBody("ok")
			c.end(true)
		}
	})
	tr := newTransport(t, func(tr *Transport) {
		tr.MaxConnsPerHost = 1
		tr.DialTimeout = caddy.Duration(300 * time.Millisecond)
	})
	// The first request holds the only connection; a second one waits
	// dial_timeout and is answered 503: a full pool is this front end's
	// limit, not the node's failure, so it is no error that would count
	// against the node's health.
	first := make(chan error, 1)
	go func() {
		resp, err := get(t, tr, fc.addr(), "/")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		first <- err
	}()
	time.Sleep(100 * time.Millisecond)
	logs := observe(tr)
	resp, err := get(t, tr, fc.addr(), "/")
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("second request with the pool full: %v %v, want 503 answered by the transport", resp, err)
	} else {
		resp.Body.Close()
	}
	if logs.FilterMessageSnippet("busy").FilterLevelExact(zapcore.WarnLevel).Len() != 1 {
		t.Errorf("no WARN line about busy connections: %v", logs.All())
	}
	// Once the first finishes, a waiting request gets its connection.
	second := make(chan error, 1)
	go func() {
		resp, err := get(t, tr, fc.addr(), "/")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		second <- err
	}()
	time.Sleep(50 * time.Millisecond)
	close(gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("waiting request: %v", err)
	}
	if n := fc.acceptedConns(); n != 1 {
		t.Errorf("max_conns_per_host 1 opened %d connections", n)
	}
}

func TestAbandonedResponseClosesTheConnection(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) {
		for {
			if _, err := c.next(); err != nil {
				return
			}
			c.sendHeaders(200)
			for i := 0; i < 5; i++ { // more than is read ahead of the headers
				c.sendBody(strings.Repeat("x", 8000))
			}
			c.end(true)
		}
	})
	tr := newTransport(t, nil)
	resp, err := get(t, tr, fc.addr(), "/")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	resp.Body.Read(buf)
	resp.Body.Close() // the client went away mid-response
	fetch(t, tr, fc.addr(), "/")
	if n := fc.acceptedConns(); n != 2 {
		t.Errorf("an abandoned exchange's connection was reused (%d connections, want 2)", n)
	}
}

func TestRequestBodyShorterThanDeclaredClosesTheConnection(t *testing.T) {
	got := make(chan string, 1)
	fc := newFakeContainer(t, func(c *fakeConn) {
		pr, err := c.next()
		if err != nil {
			return
		}
		body, err := c.readBody(pr)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- body
	})
	tr := newTransport(t, nil)
	req := httptest.NewRequest("POST", "http://"+fc.addr()+"/", strings.NewReader(strings.Repeat("a", 9000)))
	req.ContentLength = 20000 // the client promised more than it sends
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("short request body: %v, want a 400 answered by the transport (Apache answers 400)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("short request body: status %d, want 400", resp.StatusCode)
	}
	select {
	case g := <-got:
		if !strings.HasPrefix(g, "error:") {
			t.Errorf("the container received a complete body %d bytes long", len(g))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the container was left waiting for the body")
	}
}

func TestNoClientInputBecomesAnAttribute(t *testing.T) {
	fc, got := recordingContainer(t)
	tr := newTransport(t, nil)
	req := httptest.NewRequest("GET", "http://"+fc.addr()+"/share/x.jsp?javax.servlet.include.request_uri=/WEB-INF/web.xml", nil)
	req.Header.Set("javax.servlet.include.request_uri", "/WEB-INF/web.xml")
	req.Header.Set("javax.servlet.include.servlet_path", "/WEB-INF/web.xml")
	req.Header.Set("AJP_REMOTE_PORT", "1")
	req.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr := <-got
	for name := range pr.ReqAttrs {
		if name != "AJP_REMOTE_PORT" && name != "AJP_LOCAL_ADDR" {
			t.Errorf("unexpected request attribute %q", name)
		}
	}
	if v := pr.ReqAttrs["AJP_REMOTE_PORT"]; v == "1" {
		t.Error("the client's AJP_REMOTE_PORT header became the attribute")
	}
	if _, ok := pr.Attrs[ajpspec.AttrRemoteUser]; ok {
		t.Error("remote_user sent without Caddy's own authentication")
	}
	if pr.Attrs[ajpspec.AttrSecret] != "test-secret" {
		t.Errorf("secret attribute %q", pr.Attrs[ajpspec.AttrSecret])
	}
}

func TestProvisionChecks(t *testing.T) {
	cases := map[string]struct {
		tr   Transport
		want string
	}{
		"no secret":          {Transport{}, "no AJP secret"},
		"both":               {Transport{Secret: "x", InsecureNoSecret: true}, "exclude"},
		"empty env secret":   {Transport{Secret: "{env.CADDY_AJP_SURELY_UNSET}"}, "empty after replacing"},
		"packet too small":   {Transport{Secret: "x", PacketSize: 4096}, "packet_size 4096"},
		"packet too big":     {Transport{Secret: "x", PacketSize: 65537}, "packet_size 65537"},
		"ghostcat attribute": {Transport{Secret: "x", RequestAttributes: []RequestAttribute{{"javax.servlet.include.request_uri", "/x"}}}, "Ghostcat"},
		"jakarta forward":    {Transport{Secret: "x", RequestAttributes: []RequestAttribute{{"Jakarta.Servlet.Forward.path_info", "/x"}}}, "Ghostcat"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			tr := c.tr
			err := tr.Provision(ctx)
			tr.Cleanup()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Provision: %v, want an error containing %q", err, c.want)
			}
		})
	}
	t.Setenv("CADDY_AJP_TEST_SECRET", "from-env")
	tr := newTransport(t, func(tr *Transport) { tr.Secret = "{env.CADDY_AJP_TEST_SECRET}" })
	if tr.secret != "from-env" {
		t.Errorf("secret placeholder resolved to %q", tr.secret)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`ajp {
		secret {env.AJP_SECRET}
		packet_size 65536
		dial_timeout 3s
		read_timeout 1m
		idle_timeout 30s
		ping_timeout 1s
		ping_after 5s
		max_conns_per_host 50
		request_attribute JK_LB_ACTIVATION ACT
		request_attribute site {http.request.host}
	}`)
	var tr Transport
	if err := tr.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if tr.Secret != "{env.AJP_SECRET}" || tr.PacketSize != 65536 || time.Duration(tr.DialTimeout) != 3*time.Second ||
		time.Duration(tr.ReadTimeout) != time.Minute || time.Duration(tr.IdleTimeout) != 30*time.Second ||
		time.Duration(tr.PingTimeout) != time.Second || time.Duration(tr.PingAfter) != 5*time.Second ||
		tr.MaxConnsPerHost != 50 || len(tr.RequestAttributes) != 2 || tr.RequestAttributes[1].Value != "{http.request.host}" {
		t.Errorf("parsed %+v", tr)
	}

	bad := map[string]string{
		"ajp {\n secret x\n bogus 1\n}":                          "Testfile:3",
		"ajp {\n secret x\n packet_size 1000\n}":                 "packet_size",
		"ajp {\n dial_timeout soon\n}":                           "bad duration",
		"ajp {\n max_conns_per_host -1\n}":                       "negative",
		"ajp {\n secret\n}":                                      "Testfile:2",
		"ajp {\n request_attribute javax.servlet.include.x y\n}": "Ghostcat",
		"ajp {\n request_attribute onlyname\n}":                  "name and a value",
		"ajp extra":                                              "wrong argument count",
	}
	for in, want := range bad {
		var tr Transport
		err := tr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want error containing %q", in, err, want)
		}
	}
}

// A config reload cleans up the old transport while its server may still
// finish requests: those must still be served, and leave nothing open.
func TestRequestsAfterCleanupAreServedAndLeaveNothingOpen(t *testing.T) {
	fc := newFakeContainer(t, serveOK)
	tr := newTransport(t, nil)
	if got := fetch(t, tr, fc.addr(), "/"); got != "ok" {
		t.Fatal(got)
	}
	tr.Cleanup()
	for i := 0; i < 3; i++ {
		if got := fetch(t, tr, fc.addr(), "/"); got != "ok" {
			t.Fatalf("request after Cleanup: %q", got)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for OpenConnections() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := OpenConnections(); n != 0 {
		t.Errorf("%d connections open after Cleanup and the requests that followed it", n)
	}
}

// TestStreamingAGibibyteToASlowClientKeepsMemoryFlat streams 1 GiB through
// the transport to a reader that takes its time: the heap must not grow
// with the response (nothing is buffered beyond a packet or two).
func TestStreamingAGibibyteToASlowClientKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 1 GiB")
	}
	const total = 8184 << 17 // 1 GiB minus a little: whole packets
	chunk := strings.Repeat("x", 8184)
	fc := newFakeContainer(t, func(c *fakeConn) {
		if _, err := c.next(); err != nil {
			return
		}
		c.sendHeaders(200, "Content-Length", fmt.Sprint(total))
		n := len(chunk)
		pkt := pktBody(chunk)
		for sent := 0; sent < total; sent += n {
			if _, err := c.nc.Write(pkt); err != nil {
				return
			}
		}
		c.end(true)
	})
	tr := newTransport(t, nil)
	resp, err := get(t, tr, fc.addr(), "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	buf := make([]byte, 32<<10)
	var got int64
	for i := 0; ; i++ {
		n, err := resp.Body.Read(buf)
		got += int64(n)
		if i%64 == 0 {
			time.Sleep(2 * time.Millisecond) // a slow client: ~1 GiB/s at most
		}
		if i%4096 == 0 {
			runtime.GC() // what is retained, not garbage
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
	}
	if got != total {
		t.Fatalf("got %d bytes, want %d", got, total)
	}
	growth := int64(peak) - int64(base)
	t.Logf("%d MiB streamed; heap in use %d KiB at the start, peak %d KiB", total>>20, base>>10, peak>>10)
	if growth > 1<<20 {
		t.Errorf("heap grew by %d KiB while streaming", growth>>10)
	}
}

// A pooled connection that dies between a request being sent and any
// answer: an idempotent request without a body is sent again on a new
// connection; a POST is not (it may have been processed) and fails.
func TestOnlySafeRequestsAreResentAfterAConnectionDies(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	fc := newFakeContainer(t, func(c *fakeConn) {
		for i := 0; ; i++ {
			pr, err := c.next()
			if err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, pr.Method)
			mu.Unlock()
			if i == 1 {
				return // the second request on a connection: the node dies mid-exchange
			}
			c.sendHeaders(200)
			c.sendBody("ok")
			c.end(true)
		}
	})
	tr := newTransport(t, func(tr *Transport) { tr.PingAfter = caddy.Duration(time.Hour) })

	fetch(t, tr, fc.addr(), "/") // warms a pooled connection
	if got := fetch(t, tr, fc.addr(), "/"); got != "ok" {
		t.Fatalf("GET on a connection that died: %q, want the answer from a fresh connection", got)
	}
	mu.Lock()
	if len(seen) != 3 {
		t.Errorf("the container saw %v, want GET, GET (lost), GET (resent)", seen)
	}
	seen = nil
	mu.Unlock()

	// the fresh connection now holds one exchange; the next POST on it dies
	req := httptest.NewRequest("POST", "http://"+fc.addr()+"/", strings.NewReader("data"))
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("POST on a connection that died mid-exchange succeeded; it must not be resent")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "POST" {
		t.Errorf("the container saw %v, want exactly one POST", seen)
	}
}

// A node that dies after the headers of a small response, before its end:
// RoundTrip fails (reverse_proxy can retry a GET elsewhere) instead of
// handing on a status whose body will be cut off.
func TestDeathAfterTheHeadersIsAnErrorNotACutResponse(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) {
		if _, err := c.next(); err != nil {
			return
		}
		c.sendHeaders(200, "Content-Length", "100")
		c.sendBody("partial")
		// and the process dies
	})
	tr := newTransport(t, nil)
	resp, err := get(t, tr, fc.addr(), "/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("got a response whose body cannot be completed")
	}
}

// A flush hands the headers and what came before it on at once, while the
// servlet goes on: streaming and long polling keep working.
func TestAFlushHandsTheResponseOnAtOnce(t *testing.T) {
	release := make(chan struct{})
	fc := newFakeContainer(t, func(c *fakeConn) {
		if _, err := c.next(); err != nil {
			return
		}
		c.sendHeaders(200)
		c.sendBody("event 1\n")
		c.sendBody("") // Tomcat's flush
		<-release
		c.sendBody("event 2\n")
		c.end(true)
	})
	tr := newTransport(t, nil)
	done := make(chan string, 1)
	go func() {
		resp, err := get(t, tr, fc.addr(), "/")
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		buf := make([]byte, 64)
		n, _ := resp.Body.Read(buf)
		done <- string(buf[:n])
	}()
	select {
	case got := <-done:
		if got != "event 1\n" {
			t.Errorf("first read %q", got)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the flushed part did not arrive while the servlet was still running")
	}
	close(release)
}

// TestAPostNeverMeetsAConnectionClosedWhileIdle: a request that would not be
// sent again (a POST with a body) checks a pooled connection even when it
// came back moments ago; a bodyless GET may skip that check because it is
// retried on a new connection when the pooled one turns out dead.
func TestAPostNeverMeetsAConnectionClosedWhileIdle(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) {
		pr, err := c.next()
		if err != nil {
			return
		}
		if _, err := c.readBody(pr); err != nil {
			return
		}
		c.sendHeaders(200)
		c.sendBody("ok")
		c.end(true) // says reuse, then goes away
	})
	tr := newTransport(t, nil)
	for i, method := range []string{"GET", "POST", "GET", "POST"} {
		time.Sleep(20 * time.Millisecond) // the close arrives, well within peekAfter
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("payload")
		}
		req := httptest.NewRequest(method, "http://"+fc.addr()+"/", body)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d (%s) on a connection closed while idle: %v", i, method, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("request %d (%s): %q", i, method, b)
		}
	}
}

// The listener's address reaches Tomcat as server_port and AJP_LOCAL_ADDR,
// and Caddy's client IP as remote_addr, whichever listener a request came in
// on and however often: the formatted addresses are remembered per
// listener, never mixed up.
func TestLocalAndClientAddresses(t *testing.T) {
	fc, got := recordingContainer(t)
	tr := newTransport(t, nil)
	cases := []struct {
		local            net.Addr
		clientIP         string // Caddy's client_ip var; "" for none
		wantPort         int
		wantLocal, wantR string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, "", 8443, "127.0.0.1", "198.51.100.23"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 9443}, "2001:db8::7", 9443, "::1", "2001:db8::7"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}, "192.0.2.9", 8443, "127.0.0.1", "192.0.2.9"},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "192.0.2.9:4711", 8080, "127.0.0.1", "192.0.2.9"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 9443}, "[2001:db8::8]:4711", 9443, "::1", "2001:db8::8"},
		{&net.UnixAddr{Name: "/run/caddy.sock", Net: "unix"}, "", 80, "", "198.51.100.23"}, // the port from Host
	}
	for round := range 3 {
		for i, c := range cases {
			req := httptest.NewRequest("GET", "http://"+fc.addr()+"/share/x.jsp", nil)
			req.Host = "example.com"
			req.RemoteAddr = "198.51.100.23:53122"
			ctx := context.WithValue(req.Context(), http.LocalAddrContextKey, c.local)
			if c.clientIP != "" {
				ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: c.clientIP})
			}
			resp, err := tr.RoundTrip(req.WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			pr := <-got
			if pr.ServerPort != c.wantPort || pr.ReqAttrs["AJP_LOCAL_ADDR"] != c.wantLocal || pr.RemoteAddr != c.wantR {
				t.Errorf("round %d, case %d (%v): server_port %d, AJP_LOCAL_ADDR %q, remote_addr %q; want %d, %q, %q",
					round, i, c.local, pr.ServerPort, pr.ReqAttrs["AJP_LOCAL_ADDR"], pr.RemoteAddr, c.wantPort, c.wantLocal, c.wantR)
			}
		}
	}
}

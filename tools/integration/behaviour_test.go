package integration

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/ajptransport"
	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

func TestStreamedChunksReachTheClientBeforeTheEnd(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	const delay = 400 * time.Millisecond
	resp, err := tc.Client.Get(httpBase + "/share/stream.jsp?n=4&delay=" + strconv.Itoa(int(delay/time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var arrivals []time.Time
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			arrivals = append(arrivals, time.Now())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(arrivals) != 4 {
		t.Fatalf("got %d lines, want 4", len(arrivals))
	}
	// Each flushed line must arrive on its own, about one delay apart, not
	// all at once when the response ends.
	if spread := arrivals[3].Sub(arrivals[0]); spread < 2*delay {
		t.Errorf("the 4 lines arrived within %v: the servlet's flushes were held back", spread)
	}
}

func TestSeveralSetCookiesAndRepeatedHeadersAreKept(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	resp, err := tc.Client.Get(httpBase + "/share/headers.jsp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Header.Values("Set-Cookie")
	if len(cookies) != 3 || !strings.HasPrefix(cookies[0], "a=1") || !strings.HasPrefix(cookies[1], "b=2") || !strings.HasPrefix(cookies[2], "c=3") {
		t.Errorf("Set-Cookie: %q", cookies)
	}
	if m := resp.Header.Values("X-Multi"); len(m) != 2 || m[0] != "one" || m[1] != "two" {
		t.Errorf("X-Multi: %q", m)
	}

	// Repeated request headers reach the servlet joined, as through Apache.
	req, _ := http.NewRequest("GET", httpBase+"/share/echo.jsp", nil)
	req.Header.Add("X-Dup", "one")
	req.Header.Add("X-Dup", "two")
	e, _ := doEcho(t, tc.Client, req)
	if got := e.header("X-Dup"); len(got) != 1 || got[0] != "one, two" {
		t.Errorf("X-Dup reached the servlet as %q, want [\"one, two\"]", got)
	}
}

func TestBodylessResponses(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	for _, code := range []int{204, 304} {
		req, _ := http.NewRequest("GET", fmt.Sprintf(httpBase+"/share/status.jsp?code=%d", code), nil)
		resp, b := do(t, tc.Client, req)
		if resp.StatusCode != code || len(b) != 0 {
			t.Errorf("status.jsp?code=%d: got %d with %d body bytes", code, resp.StatusCode, len(b))
		}
	}
	req, _ := http.NewRequest("HEAD", httpBase+"/share/bytes.jsp?n=5000", nil)
	resp, err := tc.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 5000 {
		t.Errorf("HEAD bytes.jsp: status %d, Content-Length %d (want 200, 5000)", resp.StatusCode, resp.ContentLength)
	}
	// The connection is clean after bodyless exchanges: the next GET is whole.
	req, _ = http.NewRequest("GET", httpBase+"/share/bytes.jsp?n=5000", nil)
	_, b := do(t, tc.Client, req)
	if len(b) != 5000 {
		t.Errorf("GET after HEAD: %d bytes", len(b))
	}
}

func TestExpectContinueIsAnsweredAndTheBodyArrives(t *testing.T) {
	loadCaddyfile(t, basicSite)
	body := pattern(100 << 10)
	req, _ := http.NewRequest("POST", httpBase+"/share/echo.jsp", bytes.NewReader(body))
	req.Header.Set("Expect", "100-continue")
	got100 := false
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got100Continue: func() { got100 = true },
	}))
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 30 * time.Second}}
	defer client.CloseIdleConnections()
	e, _ := doEcho(t, client, req)
	if !got100 {
		t.Error("no 100 Continue before the body was sent")
	}
	if e.BodyLength != int64(len(body)) || e.BodySHA256 != sha(body) {
		t.Errorf("body after 100-continue: %d bytes", e.BodyLength)
	}
}

func TestHeadersLargerThanThePacketGet400(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	off := logOffset(t)
	// 7800 bytes of header value still fit in an 8 KiB packet, next to
	// the X-Forwarded-* and Via headers reverse_proxy adds.
	req, _ := http.NewRequest("GET", httpBase+"/share/echo.jsp", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 7800))
	e, _ := doEcho(t, tc.Client, req)
	if v := e.header("X-Big"); len(v) != 1 || len(v[0]) != 7800 {
		t.Errorf("7800-byte header did not arrive whole")
	}
	req, _ = http.NewRequest("GET", httpBase+"/share/echo.jsp", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 9000))
	resp, b := do(t, tc.Client, req)
	if resp.StatusCode != 400 || string(b) != "Bad Request\n" {
		t.Errorf("9000-byte header: status %d, body %q", resp.StatusCode, b)
	}
	logs, _ := logSince(t, off)
	if !strings.Contains(logs, "do not fit in one AJP packet") || !strings.Contains(logs, "packetSize") {
		t.Errorf("no log line naming the limit and the remedy:\n%s", logs)
	}
}

func TestUpgradeRequestsGet501(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	req, _ := http.NewRequest("GET", httpBase+"/share/echo.jsp", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, b := do(t, tc.Client, req)
	// the client gets the plain status; the reason is in the log
	if resp.StatusCode != 501 || string(b) != "Not Implemented\n" {
		t.Errorf("upgrade: status %d, body %q", resp.StatusCode, b)
	}
}

func TestClientAddressPortAndProtocol(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	var local string
	req, _ := http.NewRequest("GET", httpBase+"/share/echo.jsp", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { local = i.Conn.LocalAddr().String() },
	}))
	e, _ := doEcho(t, tc.Client, req)
	_, port, _ := net.SplitHostPort(local)
	if e.RemoteAddr != "127.0.0.1" || strconv.Itoa(e.RemotePort) != port {
		t.Errorf("servlet saw client %s:%d, client is %s", e.RemoteAddr, e.RemotePort, local)
	}
	if e.LocalAddr != "127.0.0.1" || e.ServerName != "127.0.0.1" || e.ServerPort != httpPort || e.Scheme != "http" || e.Secure {
		t.Errorf("local %s, server %s:%d, scheme %s, secure %v", e.LocalAddr, e.ServerName, e.ServerPort, e.Scheme, e.Secure)
	}
	if e.Protocol != "HTTP/1.1" {
		t.Errorf("protocol %q", e.Protocol)
	}

	// An HTTP/1.0 client reaches Tomcat as HTTP/1.0, as through Apache.
	c, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /share/echo.jsp HTTP/1.0\r\nHost: %s\r\n\r\n", httpAddr)
	raw, _ := io.ReadAll(c)
	if !bytes.Contains(raw, []byte(`"protocol":"HTTP/1.0"`)) {
		t.Errorf("HTTP/1.0 request: %s", raw)
	}
}

// tomcatProtocolAttr is where Tomcat 10.1 puts AJP_SSL_PROTOCOL.
const tomcatProtocolAttr = "org.apache.tomcat.util.net.secure_protocol_version"

func TestHTTPSFactsReachTheServlet(t *testing.T) {
	loadCaddyfile(t, `
https://localhost:{HTTPS_PORT} {
	tls internal {
		client_auth {
			mode request
		}
	}
	reverse_proxy {AJP} {
		transport ajp {
			secret {env.AJP_TEST_SECRET}
		}
	}
}
`)
	cert := clientCert(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		client := httpsClient(t)
		cfg := client.Transport.(*http.Transport).TLSClientConfig
		cfg.MinVersion, cfg.MaxVersion = version, version
		cfg.Certificates = []tls.Certificate{cert}
		waitTLS(t, client, httpsBase+"/share/tiny.jsp")
		req, _ := http.NewRequest("GET", httpsBase+"/share/echo.jsp?attr="+tomcatProtocolAttr, nil)
		e, resp := doEcho(t, client, req)
		client.CloseIdleConnections()
		cs := resp.TLS
		if !e.Secure || e.Scheme != "https" || e.ServerPort != httpsPort {
			t.Errorf("TLS %x: secure %v scheme %s port %d", version, e.Secure, e.Scheme, e.ServerPort)
		}
		if got := e.Attributes["jakarta.servlet.request.cipher_suite"]; got != tls.CipherSuiteName(cs.CipherSuite) {
			t.Errorf("cipher_suite %v, connection used %s", got, tls.CipherSuiteName(cs.CipherSuite))
		}
		if ks, _ := e.Attributes["jakarta.servlet.request.key_size"].(float64); ks != 128 && ks != 256 {
			t.Errorf("key_size %v", e.Attributes["jakarta.servlet.request.key_size"])
		}
		if sid, _ := e.Attributes["jakarta.servlet.request.ssl_session_id"].(string); len(sid) != 64 {
			t.Errorf("ssl_session_id %q", sid)
		}
		wantProto := map[uint16]string{tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3"}[version]
		got := e.Attributes["jakarta.servlet.request.secure_protocol"] // Tomcat 11
		if got == nil {
			got = e.Attributes[tomcatProtocolAttr] // Tomcat 10.1
		}
		if got != wantProto {
			t.Errorf("secure_protocol %v, want %s", got, wantProto)
		}
		dns, _ := e.Attributes["jakarta.servlet.request.X509Certificate"].([]any)
		if len(dns) != 1 || !strings.Contains(fmt.Sprint(dns[0]), "CN=test client") {
			t.Errorf("X509Certificate subjects %v", e.Attributes["jakarta.servlet.request.X509Certificate"])
		}
	}

	// Tomcat builds https redirects from what it was told.
	client := httpsClient(t)
	resp, err := client.Get(httpsBase + "/share/redirect.jsp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, httpsBase+"/share/") {
		t.Errorf("redirect to %q", loc)
	}
}

func TestWrongSecretIsAClearError(t *testing.T) {
	const wrong = "Wr0ngSecretValue-xyz"
	tc := loadCaddyfile(t, `
http://127.0.0.1:{HTTP_PORT} {
	reverse_proxy {AJP} {
		transport ajp {
			secret `+wrong+`
		}
	}
}
`)
	off := logOffset(t)
	resp, err := tc.Client.Get(httpBase + "/share/echo.jsp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("wrong secret: status %d, want 502", resp.StatusCode)
	}
	logs, _ := logSince(t, off)
	if !strings.Contains(logs, "AJP backend rejected the secret") || !strings.Contains(logs, tomcat.AJPAddr()) {
		t.Errorf("log does not say the secret was rejected by %s:\n%s", tomcat.AJPAddr(), logs)
	}
	if all, _ := logSince(t, 0); strings.Contains(all, wrong) || strings.Contains(all, secret) {
		t.Error("a secret appears in Caddy's log")
	}
}

func TestStoppedTomcatGives502(t *testing.T) {
	skipIfShort(t)
	node := tomcattest.StartT(t, tomcattest.Options{Name: "stopped", AJPPort: tomcattest.FreePort(t), Secret: secret})
	tc := loadCaddyfile(t, `
http://127.0.0.1:{HTTP_PORT} {
	reverse_proxy `+node.AJPAddr()+` {
		transport ajp {
			secret {env.AJP_TEST_SECRET}
		}
	}
}
`)
	resp, err := tc.Client.Get(httpBase + "/share/tiny.jsp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("before stopping: %d", resp.StatusCode)
	}
	off := logOffset(t)
	if err := node.Stop(); err != nil {
		t.Fatal(err)
	}
	resp, err = tc.Client.Get(httpBase + "/share/tiny.jsp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("stopped Tomcat: status %d, want 502", resp.StatusCode)
	}
	logs, _ := logSince(t, off)
	if !strings.Contains(logs, "cannot connect to AJP backend") || !strings.Contains(logs, node.AJPAddr()) {
		t.Errorf("no log line naming the dead upstream:\n%s", logs)
	}
}

// TestNoConnectionOrGoroutineLeftAfterConfigUnload replaces the config with
// one without the transport: every pool must be closed and every transport
// goroutine gone.
func TestNoConnectionOrGoroutineLeftAfterConfigUnload(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	for i := 0; i < 20; i++ {
		resp, err := tc.Client.Get(httpBase + "/share/tiny.jsp")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if ajptransport.OpenConnections() == 0 {
		t.Fatal("no pooled AJP connection after 20 requests")
	}
	loadCaddyfile(t, `
http://127.0.0.1:{HTTP_PORT} {
	respond "no proxy here"
}
`)
	if n, g := waitTransportGone(); n != 0 || g != "" {
		t.Fatalf("after unloading the config: %d AJP connections open; goroutines:\n%s", n, g)
	}
}

// waitTransportGone waits up to 5 s for every AJP connection and transport
// goroutine to go, and returns what is left: the open connections and the
// goroutines' stacks.
func waitTransportGone() (int64, string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, g := ajptransport.OpenConnections(), transportGoroutines()
		if n == 0 && g == "" || time.Now().After(deadline) {
			return n, g
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func transportGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "ajptransport.") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

func clientCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test client", Organization: []string{"caddy-ajp"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// waitTLS waits until Caddy serves url over TLS: the internal CA issues the
// site's certificate in the background after the config loads.
func waitTLS(t *testing.T, client *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TLS service at %s: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRemoteUserComesOnlyFromCaddysOwnAuthentication(t *testing.T) {
	// bcrypt of "secret-pw" (caddy hash-password)
	tc := loadCaddyfile(t, `
http://127.0.0.1:{HTTP_PORT} {
	handle /share/echo.jsp {
		basic_auth {
			alice $2a$14$uIkxR8uuz.TAWHcsbeabu./SoreKJ1XCjIE8ShlXEGq2408SQpQJy
		}
		reverse_proxy {AJP} {
			transport ajp {
				secret {env.AJP_TEST_SECRET}
			}
		}
	}
	handle {
		reverse_proxy {AJP} {
			transport ajp {
				secret {env.AJP_TEST_SECRET}
			}
		}
	}
}
`)
	req, _ := http.NewRequest("GET", httpBase+"/share/echo.jsp", nil)
	req.SetBasicAuth("alice", "secret-pw")
	e, _ := doEcho(t, tc.Client, req)
	if e.RemoteUser == nil || *e.RemoteUser != "alice" || e.AuthType == nil || *e.AuthType != "Basic" {
		t.Errorf("after Caddy's basic_auth: remoteUser %v authType %v, want alice/Basic", e.RemoteUser, e.AuthType)
	}
	// a wrong password never reaches Tomcat
	req2, _ := http.NewRequest("GET", httpBase+"/share/echo.jsp", nil)
	req2.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("mallory:x")))
	resp, err := tc.Client.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("wrong password: %d, want 401 from Caddy", resp.StatusCode)
	}
	// an Authorization header Caddy did not check makes no remote user,
	// even with tomcatAuthentication="false"
	req3, _ := http.NewRequest("GET", httpBase+"/share/echo.jsp;x=1", nil)
	req3.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("mallory:x")))
	e3, _ := doEcho(t, tc.Client, req3)
	if e3.RemoteUser != nil {
		t.Errorf("remote user %q from an unchecked Authorization header", *e3.RemoteUser)
	}
}

func TestRequestAttributesReachTheServletOrAreRefusedByTomcat(t *testing.T) {
	tc := loadCaddyfile(t, `
http://127.0.0.1:{HTTP_PORT} {
	reverse_proxy {AJP} {
		transport ajp {
			secret {env.AJP_TEST_SECRET}
			request_attribute caddy.test.site {http.request.host}
			request_attribute caddy.test.fixed hello
		}
	}
}
`)
	req, _ := http.NewRequest("GET", httpBase+"/share/echo.jsp?attr=caddy.test.site,caddy.test.fixed", nil)
	e, _ := doEcho(t, tc.Client, req)
	if e.Attributes["caddy.test.site"] != "127.0.0.1" || e.Attributes["caddy.test.fixed"] != "hello" {
		t.Errorf("attributes %v", e.Attributes)
	}

	// A name outside the connector's allowedRequestAttributesPattern: Tomcat
	// refuses the request; the client gets 502 and the log says why.
	tc = loadCaddyfile(t, `
http://127.0.0.1:{HTTP_PORT} {
	reverse_proxy {AJP} {
		transport ajp {
			secret {env.AJP_TEST_SECRET}
			request_attribute not.allowed x
		}
	}
}
`)
	off := logOffset(t)
	resp, err := tc.Client.Get(httpBase + "/share/echo.jsp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	logs, _ := logSince(t, off)
	if resp.StatusCode != 502 || !strings.Contains(logs, "allowedRequestAttributesPattern") {
		t.Errorf("refused attribute: status %d, log:\n%s", resp.StatusCode, logs)
	}
}

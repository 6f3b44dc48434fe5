package integration

// The issue-7 bad-input battery: a Caddy site that proxies only /share* to
// the shared Tomcat (which also deploys /private) must never let a request
// reach /private, and no malformed request may desynchronise the pooled AJP
// connection (max_conns_per_host 1 makes every request share it).

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const safetySite = `
http://127.0.0.1:{HTTP_PORT} {
	handle /share* {
		reverse_proxy {AJP} {
			transport ajp {
				secret {env.AJP_TEST_SECRET}
				max_conns_per_host 1
			}
		}
	}
	handle {
		respond "not proxied" 404
	}
}
`

// Who answers a traversal row.
const (
	byTransport = "transport" // our AJP transport refused it: 400, "refusing a path" logged
	byCaddy     = "caddy"     // Caddy's /share* matcher did not match: 404 "not proxied"
	byGo        = "go"        // Go's HTTP server rejected the request line: 400
	byTomcat    = "tomcat"    // forwarded; Tomcat answered, inside /share
)

type traversalRow struct {
	target string
	status int
	by     string
	why    string
}

func traversalRows() []traversalRow {
	return []traversalRow{
		// The variants named in issue 7 (Apache mod_proxy_ajp and stock Caddy let them through).
		{"/share/..;/private/", 400, byTransport, `"..;" loses its ";" in Tomcat and becomes ".."`},
		{"/share/..;/private/secret.txt", 400, byTransport, `same, to a static file of /private`},
		{"/share/.;/..;/private/", 400, byTransport, `".;" and "..;" become "." and ".."`},
		{"/share/..;jsessionid=x/private/", 400, byTransport, `a named path parameter is removed the same way`},
		{"/share/%2E%2E;/private/", 400, byTransport, `Go keeps "..;" in Path (not cleaned); Tomcat strips ";" then decodes %2E%2E to ".."`},
		{"/share/%2e%2e/private/", 404, byCaddy, `Go decodes Path to /share/../private/, Caddy's matcher cleans it to /private/`},
		{"/share/..%2fprivate/", 404, byCaddy, `Go decodes %2f: Path /share/../private/ cleans to /private/`},
		{"/share/..;%2f..;/private/", 400, byTransport, `Path /share/..;/..;/private/ stays under /share for Caddy; segment "..;%2f..;" is ".." for Tomcat`},
		{"/share/%2E.;y/private/", 400, byTransport, `"%2E.;y" is ".." once ";y" is removed and %2E decoded`},
		{"/share/.%2e/private/", 404, byCaddy, `Go decodes to "..", Caddy cleans to /private/`},
		{`/share/..\private/`, 400, byTransport, `Go keeps the backslash; it is forwarded as %5C and "..\private" splits into ".." for a backslash-accepting Tomcat`},
		{"/share/..%5cprivate/", 400, byTransport, `"..%5c" decodes to "..\"`},
		{"/share/x/..;/..;/private/", 400, byTransport, `two "..;" climb out of /share/x`},
		{"/share;/../private/", 404, byCaddy, `"share;" is a segment for Caddy, its ".." cleans the path to /private/`},
		{"/share;x/..;/private/", 400, byTransport, `"..;" again, after a parameter on the context segment`},
		{"/SHARE/..;/private/", 400, byTransport, `Caddy's path matcher is case-insensitive, so the transport sees it`},
		{"/share/..;/private", 400, byTransport, `no trailing slash (Tomcat would redirect to /private/)`},
		{"/share/%252e%252e;/private/", 404, byTomcat, `double-encoded: Tomcat decodes once to "%2e%2e", a plain name inside /share`},
		{"/share/..;/..;/..;/private/", 400, byTransport, `climbs above the root (Tomcat would answer 400 itself)`},

		// More variants from CoyoteAdapter.parsePathParameters/normalize and UDecoder.
		{"/share/..;a=b;c=d/private/", 400, byTransport, `several parameters on one segment: each ends at ';' or '/'`},
		{"/share//..;/private/", 400, byTransport, `Tomcat merges "//" first`},
		{"/share/x/..%2f..;/private/", 400, byTransport, `Caddy cleans Path /share/x/../..;/private/ to /share/..;/private; segment "..%2f.." is "../.."`},
		{"/share/;/%2e%2e/private/", 400, byTransport, `Caddy cleans /share/;/../private/ to /share/private/; "%2e%2e" is only ".." after decoding`},
		{"/share/.;/private/", 400, byTransport, `".;" stays inside /share for Tomcat, but a segment that becomes "." through ";" is refused all the same`},
		{"/share/x/..;", 400, byTransport, `trailing "..;" (Tomcat appends "/" and serves /share/)`},
		{"/share/..;/share/echo.jsp", 400, byTransport, `"..;" that comes back into /share is refused too: the rule is per segment`},
		{httpBase + "/share/..;/private/", 400, byTransport, `absolute-form request target: Go parses the same Path`},
		{"/share/%2e%2e%3b/private/", 404, byTomcat, `"%3b" is not a parameter separator (parameters are cut before decoding): the segment is the name "..;"`},
		{"/share/..%3b/private/", 404, byTomcat, `same: "..%3b" is the name "..;", inside /share`},
		{"/share/..%00/private/", 400, byTomcat, `"..%00" decodes to "..\0", not ".."; Tomcat refuses a NUL in the path with 400`},
		{"/share/%c0%ae%c0%ae/private/", 400, byTomcat, `overlong UTF-8 for "." is two bytes 0xC0 0xAE, never "."; Tomcat answers 400 for the undecodable bytes`},
		{"/share/%u002e%u002e/private/", 400, byGo, `IIS-style %u escape: Go's URL parser refuses the request line`},
		{"/share/%2e%2e%20/private/", 404, byTomcat, `decodes to ".. ", a name, not ".."`},
		{"/share/.../private/", 404, byTomcat, `"..." is a name`},
		{"/share..;/private/", 404, byTomcat, `"share..;" is "share.." to Tomcat: no such context, and "/share*" does match it as a prefix`},
		{"/share/x/..%2f..%2fprivate/", 404, byCaddy, `Go decodes both %2f: Path /share/x/../../private/ cleans to /private/`},

		// Tomcat drops an empty path parameter segment (";" or ";x" alone)
		// entirely, then merges the resulting "//": the ".." after it climbs one
		// segment higher for Tomcat than for Caddy, which sees ";" as a
		// segment of its own.
		{"/share/;/../private/", 400, byTransport, `Caddy cleans to /share/private/ (".." eats ";"); Tomcat reads /share//../private/ = /private/`},
		{"/share/;jsessionid=x/../private/", 400, byTransport, `same with a named parameter as the whole segment`},
		{"/share/x/;/../../private/", 400, byTransport, `Caddy: /share/private/; Tomcat: /share/x//../../private/ = /private/`},
		{"/share/;x;y/../private/", 400, byTransport, `two parameters make up the whole segment`},
		{"/share/%3b/../private/", 404, byTomcat, `an encoded ";" is a name for both: Caddy and Tomcat both read /share/private/`},

		// Legitimate paths stay untouched.
		{"/share/echo.jsp;jsessionid=ABC.tomcat1", 200, byTomcat, `a session id path parameter on an ordinary segment`},
		{"/share/echo.jsp?x=..;/", 200, byTomcat, `"..;" in the query is not a path`},
		{"/share/%65cho.jsp", 200, byTomcat, `%65 decodes to "e": echo.jsp`},
		{"/share/file%2etxt", 404, byTomcat, `an encoded "." inside a name is not a dot-segment`},
		{"/share/%E2%82%AC", 404, byTomcat, `a unicode segment`},
	}
}

// rawExchange sends raw on a new connection to Caddy and reads one
// response; it never waits longer than timeout.
func rawExchange(raw string, timeout time.Duration) (*http.Response, []byte, error) {
	return rawExchangeAt(httpAddr, raw, timeout)
}

// rawExchangeAt is rawExchange against any address (Apache's, for one).
func rawExchangeAt(addr, raw string, timeout time.Duration) (*http.Response, []byte, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, raw); err != nil {
		return nil, nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, err
}

func TestTraversalNeverReachesAnotherContext(t *testing.T) {
	// The premise: proxied without a path matcher, /private is served by
	// this Tomcat, so "no PRIVATE" below means something.
	loadCaddyfile(t, basicSite)
	for _, p := range []string{"/private/", "/private/secret.txt"} {
		_, body, err := rawExchange("GET "+p+" HTTP/1.1\r\nHost: "+httpAddr+"\r\nConnection: close\r\n\r\n", 15*time.Second)
		if err != nil || !strings.Contains(string(body), "PRIVATE") {
			t.Fatalf("premise: %s through a catch-all proxy: %v %q", p, err, body)
		}
	}
	loadCaddyfile(t, safetySite)

	for _, row := range traversalRows() {
		t.Run(row.target, func(t *testing.T) {
			off := logOffset(t)
			raw := "GET " + row.target + " HTTP/1.1\r\nHost: " + httpAddr + "\r\nConnection: close\r\n\r\n"
			resp, body, err := rawExchange(raw, 15*time.Second)
			if err != nil {
				t.Fatalf("GET %s: %v", row.target, err)
			}
			logs, _ := logSince(t, off)
			refused := strings.Contains(logs, "refusing a path")
			t.Logf("%-44s -> %d (%s) %s", row.target, resp.StatusCode, row.by, headLine(body))
			if strings.Contains(string(body), "PRIVATE") {
				t.Errorf("GET %s reached the /private context: %d %q", row.target, resp.StatusCode, body)
			}
			if resp.StatusCode != row.status {
				t.Errorf("GET %s: status %d, want %d (%s: %s); body %q", row.target, resp.StatusCode, row.status, row.by, row.why, headLine(body))
			}
			switch row.by {
			case byTransport:
				if !refused {
					t.Errorf("GET %s: Caddy's log has no \"refusing a path\" line", row.target)
				}
				if string(body) != "Bad Request\n" {
					t.Errorf("GET %s: 400 with a body other than the plain status text (the reason belongs in the log): %q", row.target, body)
				}
			case byCaddy:
				if string(body) != "not proxied" {
					t.Errorf("GET %s: body %q, want Caddy's \"not proxied\"", row.target, body)
				}
			default:
				if refused {
					t.Errorf("GET %s: refused by the transport, but it should reach Tomcat (%s)", row.target, row.why)
				}
			}
			if row.status == 200 && strings.Contains(row.target, "echo.jsp") {
				var e echo
				if err := json.Unmarshal(body, &e); err != nil {
					t.Errorf("GET %s: not echo.jsp's JSON: %v", row.target, err)
				}
			}
		})
	}
}

func headLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}

// ---- smuggling and desync shapes ----

// smugShape is one malformed or hostile request, sent byte for byte.
type smugShape struct {
	name string
	// parts are written in order, with pause before each but the first.
	parts []string
	pause time.Duration
	// after writing: "read" reads responses until EOF, "readone" reads one
	// response and closes, "halfclose" shuts the write side first (Go's
	// server then cancels the request), "close" closes at once (client
	// disconnects), "readsome" reads readLimit body bytes and closes.
	mode      string
	readLimit int
	// token is the X-Token the request carries; a 200 must echo it.
	token string
	// body, when set, is what a faithful servlet must have read.
	body *string
	// want is the expected outcome summary (see smugOutcome.summary).
	want string
	// wantLog is a line Caddy must log for it.
	wantLog string
	why     string
}

type smugOutcome struct {
	statuses []int
	bodies   [][]byte
	end      string // how the conversation ended: eof, closed by us, reset, TIMEOUT
	elapsed  time.Duration
}

func (o smugOutcome) summary() string {
	var parts []string
	for _, s := range o.statuses {
		parts = append(parts, strconv.Itoa(s))
	}
	if len(parts) == 0 {
		parts = append(parts, "no response")
	}
	return strings.Join(parts, ",")
}

func strPtr(s string) *string { return &s }

func smugPost(token, headers, body string) string {
	return "POST /share/echo.jsp HTTP/1.1\r\nHost: " + httpAddr + "\r\nX-Token: " + token + "\r\n" + headers + "\r\n" + body
}

// What Caddy logs when a shape did what it claims.
const (
	logClientGone    = "client went away during the AJP exchange" // the transport's debug line
	logMalformedBody = "malformed request body"                   // the transport's debug line
	logShortBody     = "request body ended before its end"        // the transport's debug line, answered 400
	logAborted       = "aborting with incomplete response"        // reverse_proxy, client gone mid-response
)

func smugShapes(prefix string) []smugShape {
	tok := func(n string) string { return prefix + "-" + n }
	closeH := "Connection: close\r\n"
	smuggled := "GET /share/echo.jsp HTTP/1.1\r\nHost: " + httpAddr + "\r\nX-Token: smuggled-" + prefix + "\r\nConnection: close\r\n\r\n"
	return []smugShape{
		{name: "CL and TE chunked", token: tok("cl-te"), mode: "read",
			parts: []string{smugPost(tok("cl-te"), closeH+"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")},
			body:  strPtr("hello"), want: "200", why: "Go drops Content-Length when chunked is present (RFC 9112 6.3): faithful chunked body"},
		{name: "TE chunked then CL", token: tok("te-cl"), mode: "read",
			parts: []string{smugPost(tok("te-cl"), closeH+"Transfer-Encoding: chunked\r\nContent-Length: 40\r\n", "5\r\nhello\r\n0\r\n\r\n")},
			body:  strPtr("hello"), want: "200", why: "same, other order"},
		{name: "two different CLs", token: tok("cl-cl"), mode: "read",
			parts: []string{smugPost(tok("cl-cl"), closeH+"Content-Length: 5\r\nContent-Length: 6\r\n", "hello!")},
			want:  "400", why: "Go: message cannot contain multiple Content-Length headers"},
		{name: "CL list 5, 6", token: tok("cl-list"), mode: "read",
			parts: []string{smugPost(tok("cl-list"), closeH+"Content-Length: 5, 6\r\n", "hello!")},
			want:  "400", why: "Go: invalid Content-Length"},
		{name: "two equal CLs", token: tok("cl-eq"), mode: "read",
			parts: []string{smugPost(tok("cl-eq"), closeH+"Content-Length: 5\r\nContent-Length: 5\r\n", "hello")},
			body:  strPtr("hello"), want: "200", why: "Go merges identical Content-Lengths (RFC 9112 6.3)"},
		{name: "CL +5", token: tok("cl-plus"), mode: "read",
			parts: []string{smugPost(tok("cl-plus"), closeH+"Content-Length: +5\r\n", "hello")},
			want:  "400", why: "Go: invalid Content-Length"},
		{name: "CL -1", token: tok("cl-neg"), mode: "read",
			parts: []string{smugPost(tok("cl-neg"), closeH+"Content-Length: -1\r\n", "hello")},
			want:  "400", why: "Go: invalid Content-Length"},
		{name: "TE chunked, identity", token: tok("te-list"), mode: "read",
			parts: []string{smugPost(tok("te-list"), closeH+"Transfer-Encoding: chunked, identity\r\n", "5\r\nhello\r\n0\r\n\r\n")},
			want:  "501", why: "Go accepts only exactly \"chunked\": unsupported transfer encoding"},
		{name: "TE xchunked", token: tok("te-x"), mode: "read",
			parts: []string{smugPost(tok("te-x"), closeH+"Transfer-Encoding: xchunked\r\n", "5\r\nhello\r\n0\r\n\r\n")},
			want:  "501", why: "unsupported transfer encoding"},
		{name: "TE leading space", token: tok("te-sp"), mode: "read",
			parts: []string{smugPost(tok("te-sp"), closeH+"Transfer-Encoding:  chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")},
			body:  strPtr("hello"), want: "200", why: "optional whitespace around a field value is not part of it: chunked"},
		{name: "TE Chunked", token: tok("te-case"), mode: "read",
			parts: []string{smugPost(tok("te-case"), closeH+"Transfer-Encoding: Chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")},
			body:  strPtr("hello"), want: "200", why: "transfer codings are case-insensitive: chunked"},
		{name: "two TE headers", token: tok("te-two"), mode: "read",
			parts: []string{smugPost(tok("te-two"), closeH+"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n", "5\r\nhello\r\n0\r\n\r\n")},
			want:  "501", why: "Go refuses more than one Transfer-Encoding line"},
		{name: "TE identity", token: tok("te-id"), mode: "read",
			parts: []string{smugPost(tok("te-id"), closeH+"Transfer-Encoding: identity\r\nContent-Length: 5\r\n", "hello")},
			want:  "501", why: "identity is not a transfer coding any more"},
		{name: "body longer than CL (pipelined request)", token: tok("long"), mode: "read",
			parts: []string{smugPost(tok("long"), "Content-Length: 5\r\n", "hello"+smuggled)},
			body:  strPtr("hello"), want: "200,200",
			why: "Go reads 5 body bytes; the rest is the client's own next request on its own connection"},
		{name: "body longer than CL (partial request line)", token: tok("long2"), mode: "readone",
			parts: []string{smugPost(tok("long2"), "Content-Length: 5\r\n", "helloGET /private/ HTTP/1.1\r\nX-Token: smuggled-"+prefix+"\r\n")},
			body:  strPtr("hello"), want: "200",
			why: "the trailing bytes are the start of the client's own next request, which never completes; Tomcat sees exactly 5 bytes"},
		{name: "CL 0 followed by bytes", token: tok("cl0"), mode: "read",
			parts: []string{smugPost(tok("cl0"), "Content-Length: 0\r\n", "GARBAGE /x HTTP/1.1\r\n\r\n")},
			body:  strPtr(""), want: "200,400", why: "the bytes after an empty body are parsed as the client's next request: Go answers 400 (no Host)"},
		{name: "GET with a body", token: tok("getbody"), mode: "read",
			parts: []string{"GET /share/echo.jsp HTTP/1.1\r\nHost: " + httpAddr + "\r\nX-Token: " + tok("getbody") + "\r\n" + closeH + "Content-Length: 5\r\n\r\nhello"},
			body:  strPtr("hello"), want: "200", why: "a GET may carry a body; it is forwarded like any other"},
		{name: "Expect 100-continue then disconnect", wantLog: logClientGone, token: tok("expect"), mode: "close", pause: 300 * time.Millisecond,
			parts: []string{smugPost(tok("expect"), "Expect: 100-continue\r\nContent-Length: 50000\r\n", ""), strings.Repeat("e", 9000)},
			want:  "no response", why: "the client takes the 100 Continue, sends part of the body and goes"},
		{name: "body shorter than CL then half-close", wantLog: logShortBody, token: tok("short"), mode: "halfclose",
			parts: []string{smugPost(tok("short"), "Content-Length: 100\r\n", "0123456789")},
			want:  "400", why: "the body ends early: the client's fault, answered 400 as Apache does; nothing reached Tomcat"},
		{name: "body shorter than CL (20000 of 30000) then half-close", wantLog: logShortBody, token: tok("short2"), mode: "halfclose",
			parts: []string{smugPost(tok("short2"), "Content-Length: 30000\r\n", strings.Repeat("a", 20000))},
			want:  "400", why: "the exchange had started (first packet sent); the AJP connection is discarded, the client gets 400"},
		{name: "disconnect mid-body (CL 100000, 10 bytes)", wantLog: logShortBody, token: tok("mid1"), mode: "close",
			parts: []string{smugPost(tok("mid1"), "Content-Length: 100000\r\n", "0123456789")},
			want:  "no response", why: "the client is gone before the first body packet is complete"},
		{name: "disconnect mid-body (CL 100000, 20000 bytes, pause)", wantLog: logShortBody, token: tok("mid2"), mode: "close", pause: 300 * time.Millisecond,
			parts: []string{smugPost(tok("mid2"), "Content-Length: 100000\r\n", strings.Repeat("b", 20000)), strings.Repeat("c", 1000)},
			want:  "no response", why: "Tomcat is waiting for more body on the pooled connection when the client goes"},
		{name: "disconnect mid-body (chunked, pause)", wantLog: logShortBody, token: tok("mid3"), mode: "close", pause: 300 * time.Millisecond,
			parts: []string{smugPost(tok("mid3"), "Transfer-Encoding: chunked\r\n", "2710\r\n"+strings.Repeat("d", 10000)+"\r\n"), "10\r\n0123"},
			want:  "no response", why: "chunked body cut mid-chunk"},
		{name: "disconnect mid-response", wantLog: logAborted, token: tok("midresp"), mode: "readsome", readLimit: 10 << 10,
			parts: []string{"GET /share/bytes.jsp?n=5000000 HTTP/1.1\r\nHost: " + httpAddr + "\r\nX-Token: " + tok("midresp") + "\r\nConnection: close\r\n\r\n"},
			want:  "200", why: "the client reads 10 KiB of 5 MB and closes"},
		{name: "disconnect mid-response (chunked response)", wantLog: logAborted, token: tok("midresp2"), mode: "readsome", readLimit: 10 << 10,
			parts: []string{"GET /share/bytes.jsp?n=5000000&chunked=1 HTTP/1.1\r\nHost: " + httpAddr + "\r\nX-Token: " + tok("midresp2") + "\r\nConnection: close\r\n\r\n"},
			want:  "200", why: "same without a Content-Length"},
		{name: "chunk-size overflow", wantLog: logMalformedBody, token: tok("overflow"), mode: "read",
			parts: []string{smugPost(tok("overflow"), closeH+"Transfer-Encoding: chunked\r\n", "ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n")},
			want:  "400", why: "Go's chunked reader fails (chunk length too large) while the transport reads the body: the client's fault, said as 400"},
		{name: "bad chunk terminator", wantLog: logMalformedBody, token: tok("badterm"), mode: "read",
			parts: []string{smugPost(tok("badterm"), closeH+"Transfer-Encoding: chunked\r\n", "5\r\nhelloXX0\r\n\r\n")},
			want:  "400", why: "malformed chunked encoding: no CRLF after the chunk data"},
		{name: "chunk with bare LF", wantLog: logMalformedBody, token: tok("barelf"), mode: "read",
			parts: []string{smugPost(tok("barelf"), closeH+"Transfer-Encoding: chunked\r\n", "5\nhello\n0\n\n")},
			want:  "400", why: "Go refuses a chunk line ended by LF alone"},
		{name: "chunk extension and trailer", token: tok("ext"), mode: "read",
			parts: []string{smugPost(tok("ext"), closeH+"Transfer-Encoding: chunked\r\n", "5;x=y\r\nhello\r\n0\r\nX-Token: trailer-"+prefix+"\r\n\r\n")},
			body:  strPtr("hello"), want: "200", why: "valid: the extension is ignored, the trailer is not a header"},
	}
}

// smugConverse runs one shape on a new connection, never waiting more than
// 15 s in all.
func smugConverse(s smugShape) smugOutcome {
	start := time.Now()
	o := smugOutcome{}
	c, err := net.DialTimeout("tcp", httpAddr, 5*time.Second)
	if err != nil {
		o.end = "dial: " + err.Error()
		return o
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	for i, p := range s.parts {
		if i > 0 && s.pause > 0 {
			time.Sleep(s.pause)
		}
		if _, err := io.WriteString(c, p); err != nil {
			o.end = "write: " + err.Error()
			break
		}
	}
	switch s.mode {
	case "close":
		if s.pause > 0 {
			time.Sleep(s.pause)
		}
		o.end = "closed by the client"
		o.elapsed = time.Since(start)
		return o
	case "halfclose":
		_ = c.(*net.TCPConn).CloseWrite()
	}
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			o.end = connEnd(err)
			break
		}
		o.statuses = append(o.statuses, resp.StatusCode)
		if s.mode == "readone" {
			b, err := io.ReadAll(resp.Body)
			o.bodies = append(o.bodies, b)
			o.end = "closed by the client after one response"
			if err != nil {
				o.end = "body: " + connEnd(err)
			}
			break
		}
		if s.mode == "readsome" {
			b := make([]byte, s.readLimit)
			n, err := io.ReadFull(resp.Body, b)
			o.bodies = append(o.bodies, b[:n])
			if err != nil {
				o.end = "body: " + connEnd(err)
			} else {
				o.end = "closed by the client mid-response"
			}
			break
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		o.bodies = append(o.bodies, b)
		if err != nil {
			o.end = "body: " + connEnd(err)
			break
		}
	}
	o.elapsed = time.Since(start)
	return o
}

func connEnd(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.As(err, &ne) && ne.Timeout():
		return "TIMEOUT"
	}
	return err.Error()
}

// checkSmug returns the problems with a shape's outcome.
func checkSmug(s smugShape, o smugOutcome) []string {
	var errs []string
	if strings.Contains(o.end, "TIMEOUT") {
		errs = append(errs, fmt.Sprintf("hang: no end after %v (%s)", o.elapsed, o.end))
	}
	for i, st := range o.statuses {
		b := o.bodies[i]
		switch {
		case st == 502 || st == 504:
			errs = append(errs, fmt.Sprintf("response %d: %d for a client-side problem: %q", i+1, st, headLine(b)))
		case st == 200 && s.mode == "readsome":
			// bytes.jsp: check the pattern of what was read
			for j := range b {
				if b[j] != byte(j*31) {
					errs = append(errs, fmt.Sprintf("bytes.jsp byte %d is %d", j, b[j]))
					break
				}
			}
		case st == 200:
			var e echo
			if err := json.Unmarshal(b, &e); err != nil {
				errs = append(errs, fmt.Sprintf("response %d: 200 but not echo.jsp's JSON: %v: %q", i+1, err, headLine(b)))
				continue
			}
			want := s.token
			if i > 0 {
				want = "smuggled-" + strings.SplitN(s.token, "-", 2)[0]
			}
			if e.Token == nil || *e.Token != want {
				errs = append(errs, fmt.Sprintf("response %d: token %v, want %q", i+1, ptrStr(e.Token), want))
			}
			if i == 0 && s.body != nil && (e.BodyLength != int64(len(*s.body)) || e.BodySHA256 != sha([]byte(*s.body))) {
				errs = append(errs, fmt.Sprintf("servlet read %d body bytes, want %q", e.BodyLength, *s.body))
			}
		case st < 400 || st > 599:
			errs = append(errs, fmt.Sprintf("response %d: status %d", i+1, st))
		}
	}
	if got := o.summary(); got != s.want {
		errs = append(errs, fmt.Sprintf("outcome %s, want %s (%s)", got, s.want, s.why))
	}
	return errs
}

func ptrStr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return strconv.Quote(*p)
}

func randToken() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tokenRound sends n ordinary requests, each with its own X-Token, over one
// keep-alive client, and returns every mismatch.
func tokenRound(label string, n int) []string {
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	var errs []string
	for i := 0; i < n; i++ {
		tok := fmt.Sprintf("%s-%d-%s", label, i, randToken())
		req, _ := http.NewRequest("GET", "http://"+httpAddr+"/share/echo.jsp", nil)
		req.Header.Set("X-Token", tok)
		resp, err := client.Do(req)
		if err != nil {
			errs = append(errs, fmt.Sprintf("request %d: %v", i, err))
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			errs = append(errs, fmt.Sprintf("request %d: reading body: %v", i, err))
			continue
		}
		if resp.StatusCode != 200 {
			errs = append(errs, fmt.Sprintf("request %d: status %d: %q", i, resp.StatusCode, headLine(body)))
			continue
		}
		var e echo
		if err := json.Unmarshal(body, &e); err != nil {
			errs = append(errs, fmt.Sprintf("request %d: not echo.jsp's JSON: %v: %q", i, err, headLine(body)))
			continue
		}
		if e.Token == nil || *e.Token != tok {
			errs = append(errs, fmt.Sprintf("request %d: token %s, sent %q: a response meant for another request", i, ptrStr(e.Token), tok))
		}
	}
	return errs
}

// badLogLines returns the lines Caddy logged that must not follow a
// client-side problem: a 502/504 blamed on the backend, or a panic.
func badLogLines(logs string) []string {
	var bad []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "AJP exchange failed") || strings.Contains(line, "AJP protocol error") ||
			strings.Contains(line, `"status":502`) || strings.Contains(line, `"status":504`) ||
			strings.Contains(strings.ToLower(line), "panic") {
			if len(line) > 400 {
				line = line[:400] + "…"
			}
			bad = append(bad, line)
		}
	}
	return bad
}

func TestSmugglingShapesDoNotDesyncPooledConnections(t *testing.T) {
	loadCaddyfile(t, safetySite)
	if errs := tokenRound("warmup", 5); len(errs) > 0 {
		t.Fatalf("ordinary requests fail before any shape: %v", errs)
	}

	t.Run("sequential", func(t *testing.T) {
		for _, s := range smugShapes("seq") {
			t.Run(s.name, func(t *testing.T) {
				off := logOffset(t)
				o := smugConverse(s)
				t.Logf("%-52s -> %-12s end=%s in %v", s.name, o.summary(), o.end, o.elapsed.Round(time.Millisecond))
				for _, e := range checkSmug(s, o) {
					t.Errorf("%s: %s\nsent: %q", s.name, e, clip(strings.Join(s.parts, ""), 300))
				}
				// Let the server side of a client disconnect finish.
				time.Sleep(50 * time.Millisecond)
				for _, e := range tokenRound("after-"+slugOf(s.name), 20) {
					t.Errorf("after %q: %s", s.name, e)
				}
				logs, _ := logSince(t, off)
				for _, l := range badLogLines(logs) {
					t.Errorf("after %q, Caddy logged: %s", s.name, l)
				}
				if s.wantLog != "" && !strings.Contains(logs, s.wantLog) {
					t.Errorf("%s: Caddy's log lacks %q: the shape did not do what it claims", s.name, s.wantLog)
				}
			})
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		off := logOffset(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []string
		report := func(format string, args ...any) {
			mu.Lock()
			errs = append(errs, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		start := time.Now()
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for _, e := range tokenRound(fmt.Sprintf("conc%d", g), 20) {
					report("goroutine %d: %s", g, e)
				}
			}(g)
		}
		for _, s := range smugShapes("conc") {
			wg.Add(1)
			go func(s smugShape) {
				defer wg.Done()
				o := smugConverse(s)
				for _, e := range checkSmug(s, o) {
					// Under contention only the shape's safety matters: the
					// exact outcome was checked sequentially.
					if strings.HasPrefix(e, "outcome ") {
						continue
					}
					report("shape %q: %s", s.name, e)
				}
			}(s)
		}
		wg.Wait()
		t.Logf("8×20 token requests with %d shapes in parallel: %v", len(smugShapes("conc")), time.Since(start).Round(time.Millisecond))
		for _, e := range errs {
			t.Error(e)
		}
		logs, _ := logSince(t, off)
		for _, l := range badLogLines(logs) {
			t.Errorf("Caddy logged: %s", l)
		}
		// After it all, the pool is still sound.
		for _, e := range tokenRound("after-concurrent", 20) {
			t.Errorf("after the concurrent run: %s", e)
		}
	})
}

func slugOf(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "_") {
			b.WriteByte('_')
		}
	}
	return strings.Trim(b.String(), "_")
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}

// ---- odd headers ----

// latin1 turns what echo.jsp printed (each byte of a header as one char,
// ISO-8859-1) back into bytes; ok is false for a char above U+00FF.
func latin1(s string) ([]byte, bool) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			return nil, false
		}
		b = append(b, byte(r))
	}
	return b, true
}

type oddHeader struct {
	name string
	// raw, when set, is sent on a socket; else req is sent by http.Client.
	raw string
	req func() *http.Request
	// check looks at a 200's echo; wantStatus is the status expected.
	wantStatus int
	check      func(e echo) error
	// reason is a substring a 400 from Caddy must carry in its body and
	// Caddy's log; goReject marks a 400 from Go's HTTP server itself, before
	// any handler (nothing logged, nothing forwarded).
	reason   string
	goReject bool
	why      string
}

func echoGet(token string, set func(h http.Header)) func() *http.Request {
	return func() *http.Request {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+"/share/echo.jsp", nil)
		req.Header.Set("X-Token", token)
		set(req.Header)
		return req
	}
}

func wantHeader(name, value string) func(e echo) error {
	return func(e echo) error {
		vals := e.header(name)
		if len(vals) != 1 {
			return fmt.Errorf("header %.40q arrived as %d values", name, len(vals))
		}
		got, ok := latin1(vals[0])
		if !ok {
			return fmt.Errorf("header %.40q has a char above U+00FF: %q", name, vals[0])
		}
		if string(got) != value {
			return fmt.Errorf("header %.40q arrived as %q (%d bytes), sent %q (%d bytes)", name, clip(string(got), 80), len(got), clip(value, 80), len(value))
		}
		return nil
	}
}

func wantNoHeader(name string) func(e echo) error {
	return func(e echo) error {
		if v := e.header(name); v != nil {
			return fmt.Errorf("header %q arrived as %q, want it dropped", name, v)
		}
		return nil
	}
}

func manyHeaders(n int) func(h http.Header) {
	return func(h http.Header) {
		for i := 0; i < n; i++ {
			h[fmt.Sprintf("X-H%03d", i)] = []string{strconv.Itoa(i)}
		}
	}
}

func checkMany(n int) func(e echo) error {
	return func(e echo) error {
		for i := 0; i < n; i++ {
			if err := wantHeader(fmt.Sprintf("X-H%03d", i), strconv.Itoa(i))(e); err != nil {
				return err
			}
		}
		return nil
	}
}

func oddHeaders() []oddHeader {
	longName := "X-" + strings.Repeat("n", 6998)
	hugeName := "X-" + strings.Repeat("n", 8998)
	var hi strings.Builder
	for c := 0x80; c <= 0xFF; c++ {
		hi.WriteByte(byte(c))
	}
	high := "a" + hi.String() + "z"
	var cookies []string
	for i := 0; i < 100; i++ {
		cookies = append(cookies, fmt.Sprintf("c%03d=v%03d", i, i))
	}
	cookieLine := strings.Join(cookies, "; ")
	rawReq := func(token, headers string) string {
		return "GET /share/echo.jsp HTTP/1.1\r\nHost: " + httpAddr + "\r\nX-Token: " + token + "\r\nConnection: close\r\n" + headers + "\r\n"
	}
	var sepCookies strings.Builder
	for _, c := range cookies {
		sepCookies.WriteString("Cookie: " + c + "\r\n")
	}
	return []oddHeader{
		{name: "7000-byte header name", req: echoGet("long-name", func(h http.Header) { h[longName] = []string{"v"} }),
			wantStatus: 200, check: wantHeader(longName, "v"), why: "fits in one 8 KiB AJP packet"},
		{name: "9000-byte header name", req: echoGet("huge-name", func(h http.Header) { h[hugeName] = []string{"v"} }),
			wantStatus: 400, reason: "fit in one AJP packet", why: "the header block cannot fit in an 8 KiB packet"},
		{name: "93 headers (92 + X-Token)", req: echoGet("many93", manyHeaders(92)), wantStatus: 200, check: checkMany(92),
			why: "with the 7 Caddy sends or adds (Host, User-Agent, Accept-Encoding, Via, X-Forwarded-For/-Proto/-Host), exactly Tomcat's maxHeaderCount of 100"},
		{name: "500 headers", req: echoGet("many", manyHeaders(500)), wantStatus: 400, reason: "header",
			why: "500 short headers fit in one AJP packet, but Tomcat's maxHeaderCount (100) makes AjpProcessor.prepareRequest fail with a 500; the issue asks for a faithful request or a clear 400"},
		{name: "100 cookies in one header", req: echoGet("cookies", func(h http.Header) { h.Set("Cookie", cookieLine) }),
			wantStatus: 200, check: wantHeader("Cookie", cookieLine), why: "one Cookie header of 100 pairs"},
		{name: "100 Cookie header lines", raw: rawReq("cookie-lines", sepCookies.String()),
			wantStatus: 200, check: wantHeader("Cookie", cookieLine), why: `joined with "; " (RFC 9113 8.2.3's rule, as Apache does)`},
		{name: "obs-fold continuation", raw: rawReq("fold", "X-Fold: first\r\n  second\r\n"),
			wantStatus: 200, check: wantHeader("X-Fold", "first second"), why: "Go replaces the obs-fold with one SP, as RFC 9112 5.2 allows; no CR or LF reaches the packet"},
		{name: "non-ASCII bytes 0x80-0xFF", raw: rawReq("high", "X-High: "+high+"\r\n"),
			wantStatus: 200, check: wantHeader("X-High", high), why: "obs-text is forwarded byte for byte; Tomcat reads it as ISO-8859-1"},
		{name: "tab inside a value", raw: rawReq("tab", "X-Tab: a\tb\r\n"),
			wantStatus: 200, check: wantHeader("X-Tab", "a\tb"), why: "HTAB is allowed inside a value"},
		{name: "mixed-case name", raw: rawReq("mixed", "x-MiXeD-cAsE: Value\r\n"),
			wantStatus: 200, check: wantHeader("X-Mixed-Case", "Value"), why: "names are case-insensitive; Go canonicalises the name, the value is exact"},
		{name: "empty value", raw: rawReq("empty", "X-Empty:\r\n"),
			wantStatus: 200, check: wantHeader("X-Empty", ""), why: "an empty field value is valid"},
		{name: "token-char name", raw: rawReq("tchar", "X-!#$%&'*+^`|~: t\r\n"),
			wantStatus: 200, check: wantHeader("X-!#$%&'*+^`|~", "t"), why: "every tchar but '.' and '_' is valid in a name and forwarded"},
		{name: "underscore name", raw: rawReq("under", "X_Under: u\r\n"),
			wantStatus: 200, check: wantNoHeader("X_Under"), why: "Caddy 2.11's server drops names with '_' (GHSA-f59h-q822-g45g) before any handler"},
		{name: "dot name", raw: rawReq("dot", "X-a.b: d\r\n"),
			wantStatus: 200, check: wantNoHeader("X-a.b"), why: "Caddy 2.11's server drops names with '.' (GHSA-49wc-4hcv-v58q)"},
		{name: "NUL in a value", raw: rawReq("nul", "X-Nul: a\x00b\r\n"),
			wantStatus: 400, goReject: true, why: "Go's server refuses control characters in a value (its answer is a bare \"400 Bad Request\")"},
		{name: "CR in a value", raw: rawReq("cr", "X-Cr: a\rb\r\n"),
			wantStatus: 400, goReject: true, why: "Go's server refuses a bare CR"},
		{name: "space before colon", raw: rawReq("spcolon", "X-Sp : v\r\n"),
			wantStatus: 400, goReject: true, why: "Go's server refuses whitespace between name and colon (RFC 9112 5.1)"},
	}
}

func TestOddHeadersGiveAFaithfulRequestOrA400(t *testing.T) {
	loadCaddyfile(t, safetySite)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for _, h := range oddHeaders() {
		t.Run(h.name, func(t *testing.T) {
			off := logOffset(t)
			tomcatOff := tomcat.LogOffset()
			var status int
			var body []byte
			var token string
			if h.raw != "" {
				resp, b, err := rawExchange(h.raw, 15*time.Second)
				if err != nil {
					t.Fatalf("%s: %v", h.name, err)
				}
				status, body = resp.StatusCode, b
				_, rest, _ := strings.Cut(h.raw, "X-Token: ")
				token, _, _ = strings.Cut(rest, "\r\n")
			} else {
				req := h.req()
				token = req.Header.Get("X-Token")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", h.name, err)
				}
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("%s: reading body: %v", h.name, err)
				}
				status = resp.StatusCode
			}
			t.Logf("%-28s -> %d %s", h.name, status, headLine(body))
			var e echo
			decodeErr := json.Unmarshal(body, &e) // echo.jsp's JSON when the status is 200
			if status != h.wantStatus {
				if tl := tomcat.Log(); int64(len(tl)) > tomcatOff {
					t.Logf("Tomcat logged:\n%s", clip(tl[tomcatOff:], 3000))
				}
				if status == 200 {
					t.Logf("servlet saw headers: %q", e.Headers)
				}
			}
			if status == 502 {
				t.Errorf("%s: 502 %q", h.name, body)
			}
			if status != h.wantStatus {
				t.Errorf("%s: status %d, want %d (%s); body %q", h.name, status, h.wantStatus, h.why, headLine(body))
			}
			switch status {
			case 200:
				if decodeErr != nil {
					t.Fatalf("%s: not echo.jsp's JSON: %v", h.name, decodeErr)
				}
				if e.Token == nil || *e.Token != token {
					t.Errorf("%s: token %s, sent %q", h.name, ptrStr(e.Token), token)
				}
				if h.check != nil {
					if err := h.check(e); err != nil {
						t.Errorf("%s: %v; the servlet saw the headers %s", h.name, err, clip(fmt.Sprintf("%q", e.Headers), 1500))
					}
				}
			case 400:
				logs, _ := logSince(t, off)
				if h.goReject {
					if !strings.HasPrefix(string(body), "400 Bad Request") || strings.Contains(logs, `"logger":"http.handlers.reverse_proxy`) {
						t.Errorf("%s: want Go's own 400 before any handler; body %q, log:\n%s", h.name, body, logs)
					}
					break
				}
				// the reason goes to the log; the client gets the plain status
				if h.reason != "" && (string(body) != "Bad Request\n" || !strings.Contains(logs, h.reason)) {
					t.Errorf("%s: 400 without the reason %q in the log, or with more than the status text in the body: %q", h.name, h.reason, body)
				}
			}
			logs, _ := logSince(t, off)
			for _, l := range badLogLines(logs) {
				t.Errorf("%s: Caddy logged: %s", h.name, l)
			}
			for _, e := range tokenRound("after-"+slugOf(h.name), 20) {
				t.Errorf("after %q: %s", h.name, e)
			}
		})
	}
}

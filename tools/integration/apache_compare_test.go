package integration

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/tools/apachetest"
)

// requestShape is one request sent byte for byte, the same way, to Apache
// and to Caddy. {HOST} in raw becomes the front end's 127.0.0.1:port.
type requestShape struct {
	name string
	raw  string
	// echo: the response is echo.jsp's JSON, compared field by field.
	echo bool
}

// method of a raw request, which http.ReadResponse needs to frame HEAD.
func (s requestShape) method() string {
	m, _, _ := strings.Cut(s.raw, " ")
	return m
}

// knownDifference is a deliberate difference between what the servlet and
// the client see through Apache mod_proxy_ajp and through caddy-ajp.
type knownDifference struct {
	// key matches (anchored regexp) the compared item, e.g.
	// "servlet.header.via" or "response.header.Content-Length".
	key string
	// shapes matches (anchored regexp) the request shapes it applies to;
	// "" is all of them.
	shapes string
	// holds, if set, must accept the item and its two values (absent is
	// "<absent>"): the difference is allowed only in that form.
	holds func(key, apache, caddy string) bool
	// why it is deliberate.
	reason string
}

const absent = "<absent>"

// knownDifferences is the one list of allowed differences. Anything else
// that differs fails the test. Items: "response.…" is what the client got
// (status, reason, proto, header.<Name>, body), "servlet.…" what echo.jsp
// reported (header.<lower-case name> for values, headerName.<lower-case
// name> for the name as the servlet saw it).
var knownDifferences = []knownDifference{
	// Added by Caddy's reverse_proxy handler, not by the transport.
	{key: `servlet\.header(Name)?\.x-forwarded-(for|proto|host)`, holds: caddyOnly,
		reason: "Caddy's reverse_proxy adds X-Forwarded-For/-Proto/-Host to every upstream request; mod_proxy_ajp adds none"},
	{key: `servlet\.header(Name)?\.via`, holds: caddyOnly,
		reason: "Caddy's reverse_proxy adds Via: 1.1 Caddy to upstream requests; mod_proxy_ajp adds none"},
	{key: `response\.header\.Via`, holds: caddyOnly,
		reason: "Caddy's reverse_proxy adds Via: 1.1 Caddy to responses (in place of the upstream's Server header)"},

	// Each front end's own connection, product and clock.
	{key: `servlet\.remotePort`, holds: bothPositive,
		reason: "each front end's client connection has its own ephemeral port; both must pass a real one"},
	{key: `response\.header\.Server`, holds: apacheOnly,
		reason: "Apache adds its own Server header (ServerTokens); Caddy's reverse_proxy sends none"},
	{key: `response\.header\.Date`, holds: datesClose,
		reason: "each front end dates its own response"},
	{key: `response\.header\.(Connection|Keep-Alive)`, shapes: `hop-by-hop headers`, holds: apacheOnly,
		reason: "the client asked for Connection: keep-alive; Apache confirms it with Connection/Keep-Alive, Go's server keeps HTTP/1.1 connections alive without saying so"},
	{key: `response\.proto`, shapes: `HTTP/1\.0.*`, holds: func(_, a, c string) bool { return a == "HTTP/1.1" && c == "HTTP/1.0" },
		reason: "Apache answers an HTTP/1.0 request with its own version (HTTP/1.1, RFC 9110 §6.2), Go's server with HTTP/1.0"},
	{key: `response\.reason`, holds: numericReasonVsText,
		reason: "Tomcat sends the numeric code as the AJP status message; Apache passes it on (HTTP/1.1 200 200), Go's server writes the standard reason phrase (AJP.md: nothing to copy)"},

	// Response framing.
	{key: `response\.header\.Content-Length`, holds: lengthKeptByCaddy,
		reason: "Apache >= 2.4.59 drops Tomcat's Content-Length (CVE-2024-24795 fix) and answers chunked; caddy-ajp keeps it (AJP.md)"},
	{key: `response\.header\.Transfer-Encoding`, holds: func(_, a, c string) bool { return a == "chunked" && c == absent },
		reason: "see Content-Length: Apache re-frames Tomcat's fixed-length answers as chunked"},
	{key: `response\.header\.Content-Type`, shapes: `status 304`, holds: apacheOnly,
		reason: "Go's HTTP server deletes Content-Type from 304 responses (net/http suppressedHeaders, RFC 9110 §15.4.5); Caddy-wide, not the transport"},

	// Apache's URI canonicalization (mod_proxy without nocanon). caddy-ajp
	// forwards the path the client sent, as Caddy's HTTP transport does and
	// as RFC 9110 §7.7 asks of a proxy ("MUST NOT modify the absolute-path");
	// Tomcat normalizes the path itself to map it.
	{key: `servlet\.requestURI`, shapes: `lower-case percent escapes`,
		reason: "Apache decodes and re-encodes the path (%c3%a9 -> %C3%A9); caddy-ajp forwards the client's escapes"},
	{key: `servlet\.requestURI`, shapes: `encoded unreserved character`,
		reason: "Apache decodes unreserved escapes (%65 -> e) before re-encoding; caddy-ajp forwards them"},
	{key: `servlet\.requestURI`, shapes: `dot segments|double slash`,
		reason: "Apache removes dot segments and merges slashes (ap_normalize_path, MergeSlashes On) before proxying; caddy-ajp forwards the client's path, which Tomcat normalizes itself to map it"},
	{key: `response\..*`, shapes: `encoded slash`, holds: statusWas(404, 400),
		reason: "Apache refuses %2F in paths itself with 404 (AllowEncodedSlashes Off); through caddy-ajp Tomcat refuses it with 400 (encodedSolidusHandling=reject)"},
	{key: `response\..*`, shapes: `context root without slash`, holds: statusWas(200, 302),
		reason: "ProxyPass /share balancer://app sends /share to the member as /share/ (Apache canonicalizes the empty remainder to /), so Tomcat serves the welcome page; caddy-ajp forwards /share and Tomcat redirects to /share/ itself"},

	{key: `response\..*`, shapes: `path parameter on a dot segment`, holds: statusWas(200, 400),
		reason: "/share/..;/private/ is /private/ to Tomcat (it drops ;params before removing dot segments): Apache forwards it and serves the unmapped /private context; caddy-ajp refuses it with 400 (deliberate traversal guard)"},

	// Request size limits and each front end's own error pages.
	{key: `.*`, shapes: `header of 7950 bytes`, holds: statusWas(200, 400),
		reason: "the X-Forwarded-*/Via headers Caddy's reverse_proxy adds (~110 bytes) push this request past one 8 KiB AJP packet: caddy-ajp answers 400 (and logs the packetSize remedy) where Apache, adding none, still fits"},
	{key: `response\.(body|header\.(Content-Type|Content-Length|X-Content-Type-Options))`, shapes: `header of 8000 bytes`, holds: statusWas(400, 400),
		reason: "both refuse a header block larger than the packet with 400, each with its own error page"},

	// Request headers.
	{key: `servlet\.headerName\..*`, holds: canonicalizedByGo,
		reason: "Go's HTTP server canonicalizes header names (x-MiXeD-CaSe -> X-Mixed-Case) before any handler runs; Apache keeps the client's spelling. Names are case-insensitive (RFC 9110 §5.1)"},
	{key: `servlet\.header(Name)?\.transfer-encoding`, shapes: `POST chunked.*`, holds: apacheOnly,
		reason: "Transfer-Encoding is hop-by-hop; the body reaches Tomcat in AJP body packets either way. Apache forwards the header, caddy-ajp does not"},
	{key: `servlet\.header(Name)?\.(connection|keep-alive|te|x-hop)`, shapes: `hop-by-hop headers`, holds: apacheOnly,
		reason: "Connection, Keep-Alive, TE and the headers Connection names are hop-by-hop (RFC 9110 §7.6.1): caddy-ajp drops them, mod_proxy_ajp forwards them"},
	{key: `servlet\.header\.cookie`, shapes: `several Cookie headers`, holds: func(_, a, c string) bool { return a == `["a=1, b=2"]` && c == `["a=1; b=2"]` },
		reason: "several Cookie headers must be joined with \"; \" (RFC 6265 §5.4, RFC 9113 §8.2.3): caddy-ajp does; Apache joins them with \", \" like any header"},
	{key: `servlet\.header(Name)?\.cache-control`, shapes: `Authorization, coded headers and Pragma`, holds: caddyOnly,
		reason: "Go's HTTP server adds Cache-Control: no-cache to a request with Pragma: no-cache and no Cache-Control (net/http fixPragmaCacheControl, RFC 7234 §5.4) before Caddy sees it; Caddy-wide, same meaning"},
}

// statusWas allows whatever differs in a response whose status went from
// apache through Apache to caddy through caddy-ajp.
func statusWas(apache, caddy int) func(key, a, c string) bool {
	return func(key, a, c string) bool {
		return key != "response.status" || a == strconv.Itoa(apache) && c == strconv.Itoa(caddy)
	}
}

func caddyOnly(_, apache, caddy string) bool  { return apache == absent && caddy != absent }
func apacheOnly(_, apache, caddy string) bool { return apache != absent && caddy == absent }

func bothPositive(_, apache, caddy string) bool {
	a, errA := strconv.Atoi(apache)
	c, errC := strconv.Atoi(caddy)
	return errA == nil && errC == nil && a > 0 && c > 0
}

func datesClose(_, apache, caddy string) bool {
	var a, c []string
	if json.Unmarshal([]byte(apache), &a) != nil || json.Unmarshal([]byte(caddy), &c) != nil || len(a) != 1 || len(c) != 1 {
		return false
	}
	ta, errA := http.ParseTime(a[0])
	tc, errC := http.ParseTime(c[0])
	return errA == nil && errC == nil && ta.Sub(tc).Abs() <= 5*time.Second
}

func numericReasonVsText(_, apache, caddy string) bool {
	code, err := strconv.Atoi(apache)
	return err == nil && caddy == http.StatusText(code)
}

// lengthKeptByCaddy: Apache sent no Content-Length, caddy-ajp one.
func lengthKeptByCaddy(_, apache, caddy string) bool {
	var c []string
	if apache != absent || json.Unmarshal([]byte(caddy), &c) != nil || len(c) != 1 {
		return false
	}
	_, err := strconv.ParseUint(c[0], 10, 63)
	return err == nil
}

func canonicalizedByGo(_, apache, caddy string) bool {
	return apache != caddy && caddy == textproto.CanonicalMIMEHeaderKey(apache)
}

func rawGET(target, headers string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\n" + headers + "\r\n"
}

func rawWithBody(method, target, headers, body string) string {
	return method + " " + target + " HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\n" +
		headers + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

func requestShapes() []requestShape {
	long := strings.Repeat("L", 7000)
	propfind := `<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><allprop/></propfind>`
	return []requestShape{
		// Methods.
		{name: "GET", raw: rawGET("/share/echo.jsp", ""), echo: true},
		{name: "HEAD echo", raw: "HEAD /share/echo.jsp HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\n\r\n"},
		{name: "POST fixed body", raw: rawWithBody("POST", "/share/echo.jsp", "Content-Type: application/octet-stream\r\n", "hello world"), echo: true},
		{name: "POST form with charset", raw: rawWithBody("POST", "/share/echo.jsp", "Content-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n", "a=1&b=%C3%A9"), echo: true},
		{name: "POST chunked", raw: "POST /share/echo.jsp HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", echo: true},
		{name: "POST 100 KiB fixed", raw: rawWithBody("POST", "/share/echo.jsp", "Content-Type: application/octet-stream\r\n", string(pattern(100<<10))), echo: true},
		{name: "POST chunked 3x20000", raw: "POST /share/echo.jsp HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strings.Repeat("4e20\r\n"+strings.Repeat("c", 20000)+"\r\n", 3) + "0\r\n\r\n", echo: true},
		{name: "HTTP/1.0 POST", raw: "POST /share/echo.jsp HTTP/1.0\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbody", echo: true},
		{name: "POST Content-Length 0", raw: rawWithBody("POST", "/share/echo.jsp", "", ""), echo: true},
		{name: "POST without length", raw: "POST /share/echo.jsp HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\n\r\n", echo: true},
		{name: "POST Expect 100-continue", raw: rawWithBody("POST", "/share/echo.jsp", "Expect: 100-continue\r\nContent-Type: text/plain\r\n", "after continue"), echo: true},
		{name: "PUT fixed body", raw: rawWithBody("PUT", "/share/echo.jsp", "Content-Type: text/plain; charset=ISO-8859-1\r\n", "put body"), echo: true},
		{name: "PATCH", raw: rawWithBody("PATCH", "/share/echo.jsp", "Content-Type: application/json-patch+json\r\n", `[{"op":"remove","path":"/a"}]`), echo: true},
		{name: "DELETE", raw: "DELETE /share/echo.jsp HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\n\r\n", echo: true},
		{name: "OPTIONS", raw: "OPTIONS /share/echo.jsp HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\n\r\n", echo: true},
		{name: "PROPFIND", raw: rawWithBody("PROPFIND", "/share/echo.jsp", "Depth: 1\r\nContent-Type: application/xml; charset=utf-8\r\n", propfind), echo: true},
		{name: "TRACE", raw: "TRACE /share/echo.jsp HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\n\r\n", echo: true},
		{name: "unknown method", raw: "FROBNICATE /share/echo.jsp HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\n\r\n", echo: true},

		// Request URIs.
		{name: "jsessionid path parameter", raw: rawGET("/share/echo.jsp;jsessionid=x", ""), echo: true},
		{name: "encoded path parameter", raw: rawGET("/share/echo.jsp;v=a%20b%C3%A9", ""), echo: true},
		{name: "lower-case percent escapes", raw: rawGET("/share/echo.jsp;v=%c3%a9", ""), echo: true},
		{name: "encoded unreserved character", raw: rawGET("/share/%65cho.jsp", ""), echo: true},
		{name: "encoded slash", raw: rawGET("/share/a%2Fb", "")},
		{name: "path parameter on a dot segment", raw: rawGET("/share/..;/private/", "")},
		{name: "dot segments", raw: rawGET("/share/x/../echo.jsp", ""), echo: true},
		{name: "double slash", raw: rawGET("/share//echo.jsp", ""), echo: true},
		{name: "absolute-form target", raw: rawGET("http://{HOST}/share/echo.jsp?a=1", ""), echo: true},

		// Query strings.
		{name: "empty query", raw: rawGET("/share/echo.jsp?", ""), echo: true},
		{name: "encoded query", raw: rawGET("/share/echo.jsp?x=%20%2B%26%3D&y=%C3%A9", ""), echo: true},
		{name: "query with plus", raw: rawGET("/share/echo.jsp?q=a+b&r=+", ""), echo: true},
		{name: "query with repeated keys", raw: rawGET("/share/echo.jsp?a=1&a=2;b&flag", ""), echo: true},

		// Protocol, server name and port.
		{name: "HTTP/1.0", raw: "GET /share/echo.jsp HTTP/1.0\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\n\r\n", echo: true},
		{name: "Host with another port", raw: "GET /share/echo.jsp HTTP/1.1\r\nHost: 127.0.0.1:9999\r\nUser-Agent: compare/1\r\nAccept: */*\r\n\r\n", echo: true},
		{name: "Host without port", raw: "GET /share/echo.jsp HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: compare/1\r\nAccept: */*\r\n\r\n", echo: true},

		// Headers.
		{name: "duplicate header", raw: rawGET("/share/echo.jsp", "X-Dup: one\r\nX-Dup: two\r\n"), echo: true},
		{name: "one Cookie, several values", raw: rawGET("/share/echo.jsp", "Cookie: a=1; b=2; JSESSIONID=ABC.tomcat1\r\n"), echo: true},
		{name: "jsessionid in path and cookie", raw: rawGET("/share/echo.jsp;jsessionid=FROMPATH.tomcat1", "Cookie: JSESSIONID=FROMCOOKIE.tomcat2\r\n"), echo: true},
		{name: "quoted session cookie", raw: rawGET("/share/echo.jsp", "Cookie: JSESSIONID=\"QUOTED.tomcat1\"\r\n"), echo: true},
		{name: "several Cookie headers", raw: rawGET("/share/echo.jsp", "Cookie: a=1\r\nCookie: b=2\r\n"), echo: true},
		{name: "no User-Agent", raw: "GET /share/echo.jsp HTTP/1.1\r\nHost: {HOST}\r\nAccept: */*\r\n\r\n", echo: true},
		{name: "header of 7850 bytes", raw: rawGET("/share/echo.jsp", "X-Big: "+strings.Repeat("B", 7850)+"\r\n"), echo: true},
		{name: "header of 7950 bytes", raw: rawGET("/share/echo.jsp", "X-Big: "+strings.Repeat("B", 7950)+"\r\n"), echo: true},
		{name: "header of 8000 bytes", raw: rawGET("/share/echo.jsp", "X-Big: "+strings.Repeat("B", 8000)+"\r\n")},
		{name: "very long header", raw: rawGET("/share/echo.jsp", "X-Long: "+long+"\r\n"), echo: true},
		{name: "non-ASCII header bytes", raw: rawGET("/share/echo.jsp", "X-Latin1: caf\xe9\r\nX-Utf8: caf\xc3\xa9\r\n"), echo: true},
		{name: "mixed-case header names", raw: rawGET("/share/echo.jsp", "x-MiXeD-CaSe: v\r\nCONTENT-language: de\r\naccept-LANGUAGE: fr\r\n"), echo: true},
		{name: "empty and padded header values", raw: rawGET("/share/echo.jsp", "X-Empty:\r\nX-Padded:   v  w   \r\n"), echo: true},
		{name: "hop-by-hop headers", raw: rawGET("/share/echo.jsp", "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"), echo: true},
		{name: "Authorization, coded headers and Pragma", raw: rawGET("/share/echo.jsp", "Authorization: Basic dTpw\r\nAccept-Encoding: gzip, br\r\nAccept-Charset: utf-8\r\nReferer: http://example.com/\r\nPragma: no-cache\r\n"), echo: true},
		{name: "X-Token", raw: rawGET("/share/echo.jsp", "X-Token: t0k3n\r\n"), echo: true},

		// Responses.
		{name: "Set-Cookie list", raw: rawGET("/share/headers.jsp", "")},
		{name: "redirect", raw: rawGET("/share/redirect.jsp", "")},
		{name: "context root without slash", raw: rawGET("/share", "")},
		{name: "welcome page with session", raw: rawGET("/share/", "")},
		{name: "session.jsp", raw: rawGET("/share/session.jsp", "")},
		{name: "status 204", raw: rawGET("/share/status.jsp?code=204", "")},
		{name: "status 304", raw: rawGET("/share/status.jsp?code=304", "")},
		{name: "status 201", raw: rawGET("/share/status.jsp?code=201", "")},
		{name: "status 404", raw: rawGET("/share/status.jsp?code=404", "")},
		{name: "status 500", raw: rawGET("/share/status.jsp?code=500", "")},
		{name: "missing page", raw: rawGET("/share/nope.jsp", "")},
		{name: "fixed-length response", raw: rawGET("/share/bytes.jsp?n=5000&seed=3", "")},
		{name: "chunked response", raw: rawGET("/share/bytes.jsp?n=5000&seed=3&chunked=1", "")},
		{name: "HEAD fixed-length", raw: "HEAD /share/bytes.jsp?n=5000 HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: compare/1\r\nAccept: */*\r\n\r\n"},
		{name: "streamed response", raw: rawGET("/share/stream.jsp?n=3", "")},
		{name: "tiny page", raw: rawGET("/share/tiny.jsp", "")},
		{name: "HTTP/1.0 fixed-length response", raw: "GET /share/bytes.jsp?n=100 HTTP/1.0\r\nHost: {HOST}\r\n\r\n"},
	}
}

// frontView is what one request showed through one front end, flattened to
// comparable items: "response.…" is what the client saw, "servlet.…" what
// echo.jsp reported.
type frontView struct {
	status int
	items  map[string]string
	dump   string // for failure messages
}

var sessionIDRE = regexp.MustCompile(`[0-9A-F]{32}(\.[A-Za-z0-9_-]+)?`)

// normalize replaces what differs by construction: the front end's own
// address, and session ids.
func normalize(s string, port int) string {
	s = strings.ReplaceAll(s, "127.0.0.1:"+strconv.Itoa(port), "127.0.0.1:{PORT}")
	return sessionIDRE.ReplaceAllString(s, "{SESSIONID}")
}

func roundTripRaw(t *testing.T, port int, shape requestShape) frontView {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", shape.name, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	raw := strings.ReplaceAll(shape.raw, "{HOST}", "127.0.0.1:"+strconv.Itoa(port))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("%s: writing: %v", shape.name, err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: shape.method()})
	if err != nil {
		t.Fatalf("%s on port %d: reading response: %v", shape.name, port, err)
	}
	// A 100 Continue may precede the answer.
	for resp.StatusCode == 100 {
		if resp, err = http.ReadResponse(br, &http.Request{Method: shape.method()}); err != nil {
			t.Fatalf("%s on port %d: reading response after 100: %v", shape.name, port, err)
		}
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s on port %d: reading body: %v", shape.name, port, err)
	}

	v := frontView{status: resp.StatusCode, items: map[string]string{}}
	var dump strings.Builder
	fmt.Fprintf(&dump, "%s %s\n", resp.Proto, resp.Status)
	v.items["response.proto"] = resp.Proto
	v.items["response.status"] = strconv.Itoa(resp.StatusCode)
	v.items["response.reason"] = strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)+" ")
	if len(resp.TransferEncoding) > 0 {
		v.items["response.header.Transfer-Encoding"] = strings.Join(resp.TransferEncoding, ", ")
	}
	names := make([]string, 0, len(resp.Header))
	for name := range resp.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		vals := resp.Header[name]
		fmt.Fprintf(&dump, "%s: %q\n", name, vals)
		v.items["response.header."+name] = normalize(jsonString(vals), port)
	}
	if len(resp.TransferEncoding) > 0 {
		fmt.Fprintf(&dump, "(Transfer-Encoding: %s)\n", strings.Join(resp.TransferEncoding, ", "))
	}
	if !shape.echo || resp.StatusCode != 200 {
		b := normalize(string(body), port)
		if len(b) > 300 {
			sum := sha256.Sum256([]byte(b))
			b = fmt.Sprintf("%d bytes, sha256 %s", len(b), hex.EncodeToString(sum[:8]))
		}
		v.items["response.body"] = b
		fmt.Fprintf(&dump, "\n%s\n", b)
		v.dump = dump.String()
		return v
	}

	var e map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&e); err != nil {
		t.Fatalf("%s on port %d: decoding echo.jsp: %v\n%s", shape.name, port, err, body)
	}
	enc := json.NewEncoder(&dump)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	dump.WriteString("\n")
	_ = enc.Encode(e)
	for k, val := range e {
		switch k {
		case "headers":
			for name, vals := range val.(map[string]any) {
				lower := strings.ToLower(name)
				v.items["servlet.header."+lower] = normalize(jsonString(vals), port)
				v.items["servlet.headerName."+lower] = name
			}
		case "attributes":
			for name, a := range val.(map[string]any) {
				v.items["servlet.attribute."+name] = normalize(jsonString(a), port)
			}
		case "serverPort", "localPort":
			if n, ok := val.(json.Number); ok && n.String() == strconv.Itoa(port) {
				v.items["servlet."+k] = "{PORT}"
				continue
			}
			fallthrough
		default:
			if s, ok := val.(string); ok {
				v.items["servlet."+k] = normalize(s, port)
			} else {
				v.items["servlet."+k] = normalize(jsonString(val), port)
			}
		}
	}
	v.dump = dump.String()
	return v
}

// shorten keeps failure messages readable when a request carries a large
// header or body.
func shorten(s string) string {
	if len(s) > 600 {
		return s[:300] + fmt.Sprintf("…(%d bytes)…", len(s)-600) + s[len(s)-300:]
	}
	return s
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var patterns = map[string]*regexp.Regexp{}

// fullMatch reports whether the anchored pattern matches s.
func fullMatch(pattern, s string) bool {
	re, ok := patterns[pattern]
	if !ok {
		re = regexp.MustCompile(`^(?:` + pattern + `)$`)
		patterns[pattern] = re
	}
	return re.MatchString(s)
}

type difference struct {
	key, apache, caddy string
	known              *knownDifference
}

func compareViews(shape string, apache, caddy frontView) []difference {
	return compareViewsWith(knownDifferences, shape, apache, caddy)
}

// compareViewsWith is compareViews with another list of known differences
// (mod_jk's).
func compareViewsWith(known []knownDifference, shape string, apache, caddy frontView) []difference {
	keys := map[string]bool{}
	for k := range apache.items {
		keys[k] = true
	}
	for k := range caddy.items {
		keys[k] = true
	}
	var diffs []difference
	for k := range keys {
		a, ok := apache.items[k]
		if !ok {
			a = absent
		}
		c, ok := caddy.items[k]
		if !ok {
			c = absent
		}
		if a == c {
			continue
		}
		d := difference{key: k, apache: a, caddy: c}
		for i := range known {
			kd := &known[i]
			if !fullMatch(kd.key, k) {
				continue
			}
			if kd.shapes != "" && !fullMatch(kd.shapes, shape) {
				continue
			}
			if kd.holds != nil && !kd.holds(k, a, c) {
				continue
			}
			d.known = kd
			break
		}
		diffs = append(diffs, d)
	}
	slices.SortFunc(diffs, func(x, y difference) int { return strings.Compare(x.key, y.key) })
	return diffs
}

// TestServletSeesTheSameThroughApacheAndCaddy sends the same requests to
// Apache httpd (mod_proxy_ajp behind mod_proxy_balancer, as users run it)
// and to caddy-ajp, both in front of the same Tomcat, and compares what the
// servlet and the client see. Only the differences in knownDifferences may
// appear.
func TestServletSeesTheSameThroughApacheAndCaddy(t *testing.T) {
	loadCaddyfile(t, basicSite)
	apache := apachetest.StartT(t, apachetest.Options{
		Mode:    apachetest.ModeProxyAJP,
		Members: []apachetest.Member{{Addr: tomcat.AJPAddr(), Route: "tomcat1"}},
		Secret:  secret,
	})
	used := map[*knownDifference]bool{}
	for _, shape := range requestShapes() {
		t.Run(shape.name, func(t *testing.T) {
			av := roundTripRaw(t, apache.Port(), shape)
			cv := roundTripRaw(t, httpPort, shape)
			if shape.echo && av.status != 200 && cv.status != 200 {
				t.Errorf("neither front end reached echo.jsp: status %d through Apache, %d through caddy-ajp", av.status, cv.status)
			}
			var unexplained, explained []string
			for _, d := range compareViews(shape.name, av, cv) {
				line := fmt.Sprintf("%s:\n\tApache:    %s\n\tcaddy-ajp: %s", d.key, d.apache, d.caddy)
				if d.known == nil {
					unexplained = append(unexplained, line)
					continue
				}
				used[d.known] = true
				explained = append(explained, line+"\n\t(known: "+d.known.reason+")")
			}
			if os.Getenv("APACHE_COMPARE_DUMP") == "1" {
				t.Logf("--- through Apache ---\n%s\n--- through caddy-ajp ---\n%s", av.dump, cv.dump)
			}
			if len(explained) > 0 && (len(unexplained) > 0 || os.Getenv("APACHE_COMPARE_DUMP") == "1") {
				t.Logf("known differences:\n%s", strings.Join(explained, "\n"))
			}
			if len(unexplained) > 0 {
				t.Errorf("unexplained differences:\n%s\n\n--- request ---\n%q\n--- through Apache ---\n%s\n--- through caddy-ajp ---\n%s",
					strings.Join(unexplained, "\n"), shorten(shape.raw), av.dump, cv.dump)
			}
		})
	}
	for i := range knownDifferences {
		if !used[&knownDifferences[i]] {
			t.Logf("known difference %q was not seen: %s", knownDifferences[i].key, knownDifferences[i].reason)
		}
	}
}

package caddyajp_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-ajp/caddy-ajp"
)

// The pipeline benchmarks measure one request through Caddy's whole handler
// chain as a user's config builds it (server, routes, matchers, the
// handlers ajp_balancer expands to, reverse_proxy, sticky_route, the AJP
// transport) against a canned AJP container on 127.0.0.1, without the
// network to the client and without Tomcat: allocs/op and ns/op of what
// caddy-ajp and Caddy do per request, so each change to either is measured
// without Tomcat's noise. `make bench` measures the same against real
// Tomcat and Apache.

// pipelineConfigs are Caddyfile sites; %s is the container's address.
var pipelineConfigs = []struct{ name, site string }{
	// what the README and `make bench` use
	{"ajp_balancer", `ajp_balancer /share* {
		member ajp://ADDR/share route=tomcat1
		stickysession JSESSIONID|jsessionid
		secret s3cret
	}`},
	// the least Caddy can be told: reverse_proxy with the AJP transport
	{"reverse_proxy", `reverse_proxy /share* ADDR {
		transport ajp {
			secret s3cret
		}
	}`},
}

func BenchmarkPipeline(b *testing.B) {
	addr := startCannedContainer(b)
	for _, pc := range pipelineConfigs {
		b.Run(pc.name, func(b *testing.B) {
			serve := pipelineServer(b, strings.ReplaceAll(pc.site, "ADDR", addr))
			serve() // dial and CPING outside the measurement
			b.ReportAllocs()
			for b.Loop() {
				serve()
			}
		})
	}
}

// TestPipeline keeps the benchmark's setup working: each config serves the
// canned page through Caddy.
func TestPipeline(t *testing.T) {
	addr := startCannedContainer(t)
	for _, pc := range pipelineConfigs {
		t.Run(pc.name, func(t *testing.T) {
			serve := pipelineServer(t, strings.ReplaceAll(pc.site, "ADDR", addr))
			for range 3 {
				serve()
			}
		})
	}
}

// pipelineServer loads the site and returns a function that serves one
// browser-like GET through it and checks the answer.
func pipelineServer(tb testing.TB, site string) func() {
	srv := loadPipeline(tb, site)
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1/share/page.jsp?id=4711", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.RemoteAddr = "198.51.100.23:53122"
	// what net/http's server puts in every request's context
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey,
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443}))
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	req.Header.Set("Cookie", "JSESSIONID=0123456789ABCDEF0123456789ABCDEF.tomcat1")
	w := &discardWriter{h: http.Header{}}
	return func() {
		clear(w.h)
		w.status, w.n = 0, 0
		srv.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.n != len(cannedBody) {
			tb.Fatalf("got status %d, %d body bytes; want 200, %d", w.status, w.n, len(cannedBody))
		}
	}
}

// loadPipeline runs the site in-process (admin off, nothing written to
// disk) and returns its HTTP server's handler.
func loadPipeline(b testing.TB, site string) http.Handler {
	b.Helper()
	caddyfile := "{\n\tadmin off\n\tauto_https off\n\tstorage file_system " + b.TempDir() + "\n\tlog {\n\t\tlevel WARN\n\t}\n}\nhttp://127.0.0.1:0 {\n\t" + site + "\n}\n"
	cfg, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		b.Fatalf("adapting: %v\n%s", err, caddyfile)
	}
	if len(warnings) > 0 {
		b.Logf("adapt warnings: %v", warnings)
	}
	if err := caddy.Load(cfg, true); err != nil {
		b.Fatalf("loading: %v", err)
	}
	b.Cleanup(func() { _ = caddy.Stop() })
	app, err := caddy.ActiveContext().App("http")
	if err != nil {
		b.Fatal(err)
	}
	servers := app.(*caddyhttp.App).Servers
	if len(servers) != 1 {
		b.Fatalf("%d servers, want 1", len(servers))
	}
	for _, s := range servers {
		return s
	}
	return nil
}

// discardWriter is the cheapest http.ResponseWriter: it keeps the status and
// counts the body, so the benchmark measures Caddy, not a recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

// SetReadDeadline and SetWriteDeadline let Caddy's idle timeouts run as they
// do on a connection (http.ResponseController finds them).
func (w *discardWriter) SetReadDeadline(time.Time) error  { return nil }
func (w *discardWriter) SetWriteDeadline(time.Time) error { return nil }

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

const cannedBody = "Hello, world!"

// startCannedContainer serves AJP on 127.0.0.1: CPONG to every CPING, and to
// every FORWARD_REQUEST the same response (200, two headers, a 13-byte
// body, END_RESPONSE with reuse), as Tomcat writes it: three packets.
func startCannedContainer(b testing.TB) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	resp := cannedResponse()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				serveCanned(nc, resp)
			}()
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func serveCanned(nc net.Conn, resp []byte) {
	br := bufio.NewReader(nc)
	var hdr [4]byte
	payload := make([]byte, 8192)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		if hdr[0] != 0x12 || hdr[1] != 0x34 || n > len(payload) {
			return
		}
		if _, err := io.ReadFull(br, payload[:n]); err != nil {
			return
		}
		var out []byte
		switch {
		case n > 0 && payload[0] == 10: // CPING
			out = []byte{'A', 'B', 0, 1, 9}
		case n > 0 && payload[0] == 2: // FORWARD_REQUEST, no body
			out = resp
		default:
			continue // an empty body packet
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

func cannedResponse() []byte {
	str := func(s string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), append([]byte(s), 0)...)
	}
	packet := func(parts ...[]byte) []byte {
		var p []byte
		for _, part := range parts {
			p = append(p, part...)
		}
		return append(append([]byte{'A', 'B'}, binary.BigEndian.AppendUint16(nil, uint16(len(p)))...), p...)
	}
	u16 := func(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
	var out []byte
	out = append(out, packet([]byte{4}, u16(200), str("OK"), u16(2),
		u16(0xA001), str("text/plain;charset=UTF-8"),
		u16(0xA003), str("13"))...)
	out = append(out, packet([]byte{3}, u16(len(cannedBody)), []byte(cannedBody), []byte{0})...)
	out = append(out, packet([]byte{5, 1})...)
	return out
}

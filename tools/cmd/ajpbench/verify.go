package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"
)

// postBody is the body of the post64k scenario; scripts/bench/post64k.lua
// builds the same 65536 bytes.
var postBody = strings.Repeat("0123456789abcdef", 4096)

// verifyFrontend checks that fe serves the benchmark pages correctly before
// anything is measured: tiny.jsp says "hello", bytes.jsp sends exactly the
// 1 MiB it should, echo.jsp receives the 64 KiB POST intact, and a proxy
// spreads requests over both nodes (wantNodes) while tomcat-direct reaches
// node 1 only.
func verifyFrontend(ctx context.Context, fe *frontend, wantNodes []string, cert benchCert) error {
	if err := verifyPlain(ctx, fe, wantNodes); err != nil {
		return err
	}
	if fe.TLSURL == "" {
		return nil
	}
	if err := verifyTLS(ctx, fe.TLSURL, cert, false); err != nil {
		return fmt.Errorf("HTTPS, HTTP/1.1: %w", err)
	}
	if err := verifyTLS(ctx, fe.TLSURL, cert, true); err != nil {
		return fmt.Errorf("HTTPS, HTTP/2: %w", err)
	}
	return nil
}

// verifyTLS checks the HTTPS listener at base: TLS 1.3 with the run's
// certificate, the protocol ALPN should pick (h2, or HTTP/1.1 when the
// client offers only that), the tiny page and the 64 KiB POST; over HTTP/2
// also what the page mix relies on: a session kept by its cookie, a static
// resource with an ETag and a 304 for it, and the form POST.
func verifyTLS(ctx context.Context, base string, cert benchCert, h2 bool) error {
	tr := &http.Transport{
		TLSClientConfig:    &tls.Config{RootCAs: cert.Pool, MinVersion: tls.VersionTLS13},
		DisableCompression: true,
		ForceAttemptHTTP2:  h2,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // HTTP/1.1 only
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	do := func(method, path, body, ctype, inm string, want int) (*http.Response, []byte, error) {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, r)
		if err != nil {
			return nil, nil, err
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
		}
		wantProto := 1
		if h2 {
			wantProto = 2
		}
		switch {
		case resp.StatusCode != want:
			return nil, nil, fmt.Errorf("%s %s: status %d, want %d: %.200q", method, path, resp.StatusCode, want, b)
		case resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13:
			return nil, nil, fmt.Errorf("%s %s: not TLS 1.3", method, path)
		case resp.ProtoMajor != wantProto:
			return nil, nil, fmt.Errorf("%s %s: answered over %s, want HTTP/%d", method, path, resp.Proto, wantProto)
		}
		return resp, b, nil
	}
	if _, b, err := do("GET", "/share/tiny.jsp", "", "", "", 200); err != nil {
		return err
	} else if string(b) != "hello" {
		return fmt.Errorf("GET /share/tiny.jsp: body %.100q, want \"hello\"", b)
	}
	if _, b, err := do("POST", "/share/echo.jsp", postBody, "application/octet-stream", "", 200); err != nil {
		return err
	} else if !strings.Contains(string(b), fmt.Sprintf(`"bodyLength":%d`, len(postBody))) {
		return fmt.Errorf("POST /share/echo.jsp: the servlet did not see %d bytes: %.300q", len(postBody), b)
	}
	if !h2 {
		return nil
	}
	// The count, not the node: caddy-http balances round robin, and the
	// cluster replicates the session.
	for want := 1; want <= 2; want++ {
		_, b, err := do("GET", "/share/session.jsp", "", "", "", 200)
		if err != nil {
			return err
		}
		var s struct {
			Count int `json:"count"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("GET /share/session.jsp: %w: %.200q", err, b)
		}
		if s.Count != want {
			return fmt.Errorf("GET /share/session.jsp: request %d of a session counted %d: the session is lost", want, s.Count)
		}
	}
	f := staticFiles()[len(staticFiles())-1]
	resp, b, err := do("GET", staticPath+"/"+f.Name, "", "", "", 200)
	if err != nil {
		return err
	}
	etag := resp.Header.Get("ETag")
	if etag == "" || len(b) < f.Size/2 {
		return fmt.Errorf("GET %s/%s: ETag %q, %d bytes: want an ETag and about %d bytes", staticPath, f.Name, etag, len(b), f.Size)
	}
	if _, _, err := do("GET", staticPath+"/"+f.Name, "", "", etag, 304); err != nil {
		return fmt.Errorf("revalidating with If-None-Match: %w", err)
	}
	if _, b, err := do("POST", "/share/echo.jsp", mixForm, "application/x-www-form-urlencoded", "", 200); err != nil {
		return err
	} else if !strings.Contains(string(b), `"method":"POST"`) {
		return fmt.Errorf("form POST to /share/echo.jsp: %.200q", b)
	}
	return nil
}

// verifyPlain checks the plain HTTP listener.
func verifyPlain(ctx context.Context, fe *frontend, wantNodes []string) error {
	client := &http.Client{
		Transport: &http.Transport{DisableCompression: true},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer client.CloseIdleConnections()
	do := func(method, path, body string) ([]byte, error) {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, fe.URL+path, r)
		if err != nil {
			return nil, err
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s %s: status %d, want 200: %.200q", method, path, resp.StatusCode, b)
		}
		return b, nil
	}

	b, err := do("GET", "/share/tiny.jsp", "")
	if err != nil {
		return err
	}
	if string(b) != "hello" {
		return fmt.Errorf("GET /share/tiny.jsp: body %.100q, want \"hello\"", b)
	}

	const n = 1 << 20
	b, err = do("GET", fmt.Sprintf("/share/bytes.jsp?n=%d", n), "")
	if err != nil {
		return err
	}
	if len(b) != n {
		return fmt.Errorf("GET /share/bytes.jsp?n=%d: %d bytes, want %d", n, len(b), n)
	}
	for i := range b {
		if b[i] != byte(i*31) {
			return fmt.Errorf("GET /share/bytes.jsp?n=%d: byte %d is %#x, want %#x", n, i, b[i], byte(i*31))
		}
	}

	b, err = do("POST", "/share/echo.jsp", postBody)
	if err != nil {
		return err
	}
	var echo struct {
		Method     string `json:"method"`
		BodyLength int64  `json:"bodyLength"`
		BodySHA256 string `json:"bodySHA256"`
	}
	if err := json.Unmarshal(b, &echo); err != nil {
		return fmt.Errorf("POST /share/echo.jsp: %w: %.200q", err, b)
	}
	sum := sha256.Sum256([]byte(postBody))
	if echo.Method != "POST" || echo.BodyLength != int64(len(postBody)) || echo.BodySHA256 != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("POST /share/echo.jsp: the servlet saw %s with %d bytes (sha256 %s), want POST with %d bytes (sha256 %x)",
			echo.Method, echo.BodyLength, echo.BodySHA256, len(postBody), sum)
	}

	seen := map[string]int{}
	for range 12 {
		b, err := do("GET", "/share/echo.jsp", "")
		if err != nil {
			return err
		}
		var e struct {
			Node string `json:"node"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("GET /share/echo.jsp: %w: %.200q", err, b)
		}
		seen[e.Node]++
	}
	for _, want := range wantNodes {
		if seen[want] == 0 {
			return fmt.Errorf("12 requests to /share/echo.jsp reached %v, never %s: not balanced over %v", seen, want, wantNodes)
		}
	}
	if len(seen) != len(wantNodes) {
		return fmt.Errorf("12 requests to /share/echo.jsp reached %v, want only %v", seen, wantNodes)
	}
	return nil
}

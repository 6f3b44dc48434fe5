package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
func verifyFrontend(ctx context.Context, fe *frontend, wantNodes []string) error {
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

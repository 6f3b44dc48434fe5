// Package harness holds the small helpers the Tomcat and Apache test
// harnesses, the integration tests and ajpbench share.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Tail is the last n lines of s, without a final newline.
func Tail(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	for i, count := len(s)-1, 0; i >= 0; i-- {
		if s[i] == '\n' {
			if count++; count == n {
				return s[i+1:]
			}
		}
	}
	return s
}

// ErrExited is WaitHTTP's error when the server's process ended first.
var ErrExited = errors.New("exited during start")

// WaitHTTP polls url until it answers (any status; redirects are not
// followed) and returns the answer's header. It gives up after timeout, or
// as soon as exited is closed (the server's process ended).
func WaitHTTP(ctx context.Context, url string, exited <-chan struct{}, timeout time.Duration) (http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       2 * time.Second,
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.Header, nil
		}
		select {
		case <-exited:
			return nil, ErrExited
		case <-ctx.Done():
			return nil, fmt.Errorf("%s does not answer: %w", url, err)
		case <-tick.C:
		}
	}
}

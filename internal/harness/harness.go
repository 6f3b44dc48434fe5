// Package harness holds the small helpers the Tomcat and Apache test
// harnesses, the integration tests and ajpbench share.
package harness

import (
	"fmt"
	"net"
	"strings"
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

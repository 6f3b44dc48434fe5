package apachetest

import (
	"context"
	"testing"

	"github.com/caddy-ajp/caddy-ajp/tools/harness"
)

// StartT starts Apache for a test and stops it when the test ends. It fails
// the test (never skips it) when httpd cannot start, e.g. is not installed;
// when the test failed, the tail of the error log is logged at cleanup.
func StartT(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("starting Apache httpd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tail of Apache's error log (%s):\n%s", s.Dir(), harness.Tail(s.ErrorLog(), 40)+"\n")
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stopping Apache: %v", err)
		}
	})
	return s
}

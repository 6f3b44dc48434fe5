package tomcattest

import (
	"context"
	"testing"

	"github.com/caddy-ajp/caddy-ajp/tools/harness"
)

// StartT starts a node for a test and stops it when the test ends. It fails
// the test (never skips it) when Tomcat cannot start, e.g. is not installed.
// When the test failed, the tail of the node's log is logged at cleanup.
func StartT(t testing.TB, o Options) *Node {
	t.Helper()
	n, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("starting Tomcat: %v", err)
	}
	t.Cleanup(func() { cleanupNode(t, n) })
	return n
}

// StartClusterT is StartCluster for a test; the nodes stop when the test ends.
func StartClusterT(t testing.TB, opts ...Options) []*Node {
	t.Helper()
	nodes, err := StartCluster(context.Background(), opts)
	if err != nil {
		t.Fatalf("starting Tomcat cluster: %v", err)
	}
	for _, n := range nodes {
		t.Cleanup(func() { cleanupNode(t, n) })
	}
	return nodes
}

func cleanupNode(t testing.TB, n *Node) {
	if t.Failed() {
		t.Logf("tail of %s:\n%s", n.LogPath(), harness.Tail(n.Log(), 40))
	}
	if err := n.Stop(); err != nil {
		t.Errorf("stopping Tomcat %s: %v", n.Name(), err)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

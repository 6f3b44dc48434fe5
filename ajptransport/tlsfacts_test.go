package ajptransport

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// The TLS facts are worked out once per client connection: Go's server
// hands every request of a connection the same state (if it ever stops
// doing so, this test says so), each connection has its own ssl_session,
// and an entry goes with its connection.
func TestTLSFactsOncePerConnection(t *testing.T) {
	states := make(chan *tls.ConnectionState, 3)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		states <- r.TLS
	}))
	defer srv.Close()
	get := func(c *http.Client) *tls.ConnectionState {
		t.Helper()
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-states
	}
	c1 := srv.Client()
	a1, a2 := get(c1), get(c1) // one kept-alive connection
	c2 := &http.Client{Transport: &http.Transport{TLSClientConfig: c1.Transport.(*http.Transport).TLSClientConfig.Clone()}}
	b := get(c2)
	if a1 != a2 {
		t.Fatal("Go's server gave two requests of one connection different TLS states: the cache would never hit")
	}

	var cache tlsConns
	fa1, fa2, fb := cache.facts(a1, true), cache.facts(a2, true), cache.facts(b, true)
	if fa1 != fa2 {
		t.Error("the second request of a connection worked its facts out again")
	}
	if fa1.session == "" || len(fa1.session) != 64 || fa1.session == fb.session {
		t.Errorf("ssl_session %q and %q: want 64 hex digits, one per connection", fa1.session, fb.session)
	}
	if *fa1 != *newTLSFacts(a1) {
		t.Errorf("cached facts %+v differ from the connection's %+v", *fa1, *newTLSFacts(a1))
	}
	if fh := cache.facts(a1, false); fh == fa1 || *fh != *fa1 {
		t.Error("an HTTP/3 request's state must be worked out, not cached, and give the same facts")
	}
	if n := cache.n.Load(); n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}

	c1.CloseIdleConnections()
	c2.CloseIdleConnections()
	srv.Close()
	a1, a2, b = nil, nil, nil
	deadline := time.Now().Add(10 * time.Second)
	for cache.n.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left after their connections were closed and collected", cache.n.Load())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkTLSFacts compares a request on a known connection (cached) with
// working the facts out (what every HTTPS request did before).
func BenchmarkTLSFacts(b *testing.B) {
	states := make(chan *tls.ConnectionState, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { states <- r.TLS }))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	cs := <-states
	var cache tlsConns
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cache.facts(cs, true)
		}
	})
	b.Run("per-request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			newTLSFacts(cs)
		}
	})
}

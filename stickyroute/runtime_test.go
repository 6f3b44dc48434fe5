package stickyroute

import (
	"context"
	"testing"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-ajp/caddy-ajp/balancer"
)

// TestRuntimeOverridesTakeEffectAtTheNextRequest: a drain set through the
// balancer's runtime state (what the admin API does) steers the very next
// request, with no reload; clearing it returns to the configuration.
func TestRuntimeOverridesTakeEffectAtTheNextRequest(t *testing.T) {
	balancer.UseStorage(&certmagic.FileStorage{Path: t.TempDir()}, zap.NewNop())
	c := newCluster()
	s := provision(t, &StickyRoute{Name: "runtime-test", Routes: routes()}, c)
	t.Cleanup(func() { s.Cleanup() })
	b := balancer.Lookup("runtime-test")
	stopped, drain := balancer.StatusStopped, balancer.StatusDrain
	if _, _, err := b.Set(context.Background(), "tomcat2", balancer.Change{Status: &drain}, "test"); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if u := s.Select(c.pool, request("/share/"), nil); u == nil || u.Dial == "127.0.0.1:8011" {
			t.Fatalf("a new session went to the drained tomcat2: %v", u)
		}
	}
	if u := s.Select(c.pool, request("/share/", "JSESSIONID=A.tomcat2"), nil); u == nil || u.Dial != "127.0.0.1:8011" {
		t.Fatalf("a session bound to the drained tomcat2 left it: %v", u)
	}
	if _, _, err := b.Set(context.Background(), "tomcat2", balancer.Change{Status: &stopped}, "test"); err != nil {
		t.Fatal(err)
	}
	if u := s.Select(c.pool, request("/share/", "JSESSIONID=A.tomcat2"), nil); u == nil || u.Dial == "127.0.0.1:8011" {
		t.Fatalf("a session bound to the stopped tomcat2 stayed: %v", u)
	}
	if _, _, err := b.Set(context.Background(), "tomcat2", balancer.Change{ClearStatus: true}, "test"); err != nil {
		t.Fatal(err)
	}
	seen := false
	for range 6 {
		seen = seen || s.Select(c.pool, request("/share/"), nil).Dial == "127.0.0.1:8011"
	}
	if !seen {
		t.Error("tomcat2 takes no new sessions after the override was cleared")
	}
}

// TestSelectionsAreCounted: the balancer's counters say how each request
// was routed.
func TestSelectionsAreCounted(t *testing.T) {
	c := newCluster()
	s := provision(t, &StickyRoute{Name: "count-test", Routes: routes()}, c)
	t.Cleanup(func() { s.Cleanup() })
	b := balancer.Lookup("count-test")
	m := map[string]*balancer.Member{}
	for _, x := range b.Members() {
		m[x.Route()] = x
	}
	for range 3 {
		s.Select(c.pool, request("/share/"), nil) // new sessions, round robin
	}
	for range 2 {
		s.Select(c.pool, request("/share/", "JSESSIONID=A.tomcat1"), nil) // sticky
	}
	c.down["127.0.0.1:8012"] = true
	s.Select(c.pool, request("/share/", "JSESSIONID=B.tomcat3"), nil) // failover from tomcat3
	// a retry: the request failed on tomcat1 and comes back
	r := request("/share/", "JSESSIONID=C.tomcat1")
	s.Select(c.pool, r, nil)
	s.Select(c.pool, r, nil)

	var news, sticky, reqs, from3, to uint64
	for _, x := range m {
		news += x.NewSessions.Load()
		reqs += x.Requests.Load()
		to += x.FailoversTo.Load()
	}
	sticky = m["tomcat1"].Sticky.Load()
	from3 = m["tomcat3"].FailoversFrom.Load()
	if news != 3 || sticky != 3 || reqs != 8 || from3 != 1 || m["tomcat1"].FailoversFrom.Load() != 1 || to != 2 {
		t.Errorf("new %d (3), sticky on tomcat1 %d (3), requests %d (8), failovers from tomcat3 %d (1), from tomcat1 %d (1), to %d (2)",
			news, sticky, reqs, from3, m["tomcat1"].FailoversFrom.Load(), to)
	}
	if f := m["tomcat1"].Failures.Load(); f != 1 {
		t.Errorf("failures on tomcat1 %d, want 1 (the retried attempt)", f)
	}
	if m["tomcat1"].LastRequest().IsZero() {
		t.Error("no last request time")
	}
}

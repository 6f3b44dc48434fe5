package stickyroute

import (
	"context"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkSelect is a sticky request and a new session through the
// policy: what every proxied request costs it, counting included.
func BenchmarkSelect(b *testing.B) {
	c := newCluster()
	s := &StickyRoute{Routes: routes()}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := s.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	sticky := request("/share/page.jsp", "theme=dark; JSESSIONID=8A2F0C6F1E4B4F0D9C5E7A1B2C3D4E5F.tomcat2; consent=yes")
	fresh := request("/share/page.jsp")
	b.ReportAllocs()
	for b.Loop() {
		if s.Select(c.pool, sticky, nil) == nil || s.Select(c.pool, fresh, nil) == nil {
			b.Fatal("no upstream")
		}
		// each request is new: forget the upstreams "tried" by the last one
		caddyhttp.SetVar(sticky.Context(), triedVar, nil)
		caddyhttp.SetVar(fresh.Context(), triedVar, nil)
	}
}

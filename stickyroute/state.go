package stickyroute

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/caddy-ajp/caddy-ajp/balancer"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/certmagic"
)

// This file joins the policy to its balancer's runtime state (package
// balancer): the name, what the proxy knows of each upstream, the storage
// the overrides live in, and the counters each choice moves.

// Cleanup leaves the balancer.
func (s *StickyRoute) Cleanup() error {
	if s.bal != nil {
		s.bal.Leave()
		s.bal = nil
	}
	return nil
}

// storageOf is the configuration's storage, or nil for a context made
// without a configuration (tests).
func storageOf(ctx caddy.Context) (s certmagic.Storage) {
	defer func() {
		if recover() != nil {
			s = nil
		}
	}()
	return ctx.Storage()
}

// derivedName names a balancer the configuration did not name, from its
// routes: stable as long as they do not change.
func derivedName(routes []Route) string {
	keys := make([]string, len(routes))
	for i, rt := range routes {
		keys[i] = rt.Name + "@" + normAddr(rt.Upstream)
	}
	sort.Strings(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, ",")))
	return "routes-" + hex.EncodeToString(sum[:4])
}

// upstreamProbe tells the balancer what the proxy knows of an upstream:
// requests in flight to its address and its health. The proxy provisions
// its upstreams after its policy, so this reads them when asked.
func upstreamProbe(h *reverseproxy.Handler, addr string) balancer.Probe {
	return func() (int, bool) {
		for _, u := range h.Upstreams {
			if normAddr(u.Dial) == normAddr(addr) && u.Host != nil {
				return u.NumRequests(), u.Healthy()
			}
		}
		return 0, false
	}
}

// count records the choice in the balancer's counters.
func (s *StickyRoute) count(rt *Route, chosen *reverseproxy.Upstream, why string, tried []*reverseproxy.Upstream) {
	if n := len(tried); n > 0 {
		if prev := s.routeOf(tried[n-1]); prev != nil {
			prev.m.Failures.Add(1) // it was tried and the request came back
		}
	}
	if chosen == nil {
		return
	}
	to := s.routeOf(chosen)
	if to == nil {
		return
	}
	to.m.Routed()
	switch {
	case rt == nil:
		to.m.NewSessions.Add(1)
	case to == rt:
		to.m.Sticky.Add(1)
	case why != "":
		s.bal.Failover(rt.m, to.m)
	}
}

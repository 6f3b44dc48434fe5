package caddyfile

import (
	"encoding/json"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-ajp/caddy-ajp/stickyroute"
)

// AJP cannot carry an upgrade (WebSocket): Tomcat refuses it. When the
// members name their HTTP connectors (member ajp://… http=host:port),
// ajp_balancer sends upgrade requests there, to the node that holds the
// session: a second reverse_proxy over HTTP with the same sticky_route
// (same routes, statuses, failover, and the same path mapping before it),
// arranged the way php_fastcgi arranges its routes. Caddy's own WebSocket
// support does the proxying. It replaces Apache's second member list for
// mod_proxy_wstunnel.

// upgradeRoute returns the subroute that sends requests with an Upgrade
// header to the members' HTTP connectors, or nil when no member has http=.
func (b *balancerConfig) upgradeRoute(h httpcaddyfile.Helper, ajpProxy *reverseproxy.Handler, sr stickyroute.StickyRoute) (json.RawMessage, error) {
	with := 0
	for _, m := range b.members {
		if m.http != "" {
			with++
		}
	}
	if with == 0 {
		return nil, nil
	}
	if with != len(b.members) {
		for _, m := range b.members {
			if m.http == "" {
				return nil, errAt(b.file, m.line, "member %s has no http=, while other members name their HTTP connector: "+
					"upgrades (WebSocket) of sessions on it would have nowhere to go; give every member http=host:port", m.addr)
			}
		}
	}
	// the same subdirectives (header_up, …) as the AJP proxy, read again
	b.rest.Reset()
	for b.rest.Next() && b.rest.Val() != "ajp_balancer" {
	}
	b.rest.Prev()
	rp := &reverseproxy.Handler{}
	if err := rp.UnmarshalCaddyfile(b.rest); err != nil {
		return nil, err
	}
	if err := rp.FinalizeUnmarshalCaddyfile(h); err != nil {
		return nil, err
	}
	for _, m := range b.members {
		rp.Upstreams = append(rp.Upstreams, &reverseproxy.Upstream{Dial: m.http})
	}
	ws := sr
	ws.Follow = true // statuses and loadfactors are the AJP balancer's
	ws.Routes = nil
	for _, rt := range sr.Routes {
		for _, m := range b.members {
			if m.addr == rt.Upstream {
				rt.Upstream = m.http
			}
		}
		ws.Routes = append(ws.Routes, rt)
	}
	rp.LoadBalancing = &reverseproxy.LoadBalancing{
		SelectionPolicyRaw: caddyconfig.JSONModuleObject(ws, "policy", "sticky_route", nil),
		Retries:            ajpProxy.LoadBalancing.Retries,
		TryDuration:        ajpProxy.LoadBalancing.TryDuration,
	}
	// passive health as for AJP (a dead node refuses the dial); the active
	// CPING check belongs to the AJP port
	rp.HealthChecks = &reverseproxy.HealthChecks{Passive: ajpProxy.HealthChecks.Passive}
	route := caddyhttp.Route{
		MatcherSetsRaw: []caddy.ModuleMap{{"header": caddyconfig.JSON(http.Header{"Upgrade": {"*"}}, nil)}},
		HandlersRaw:    []json.RawMessage{caddyconfig.JSONModuleObject(rp, "handler", "reverse_proxy", nil)},
	}
	sub := caddyhttp.Subroute{Routes: caddyhttp.RouteList{route}}
	return caddyconfig.JSONModuleObject(sub, "handler", "subroute", nil), nil
}

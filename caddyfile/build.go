package caddyfile

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-ajp/caddy-ajp/ajptransport"
	"github.com/caddy-ajp/caddy-ajp/balancer"
	"github.com/caddy-ajp/caddy-ajp/internal/apachewords"
	"github.com/caddy-ajp/caddy-ajp/pathmap"
	"github.com/caddy-ajp/caddy-ajp/stickyroute"
)

// checkMembers checks the rules that exist in the directive alone: there
// are members, they share one path, give routes on all or none, and give
// each transport-wide parameter on all or none, with one value.
func (b *balancerConfig) checkMembers() error {
	if len(b.members) == 0 {
		return errAt(b.file, b.line, "ajp_balancer needs at least one member (member ajp://host:port/path route=name)")
	}
	first := b.members[0]
	var routed *member
	for i, m := range b.members {
		if m.path != first.path {
			return errAt(b.file, m.line, "member path %q differs from %q on line %d: one ajp_balancer maps to one path", m.path, first.path, first.line)
		}
		if m.route.Name != "" && routed == nil {
			routed = &b.members[i]
		}
	}
	for _, m := range b.members {
		if routed != nil && m.route.Name == "" {
			return errAt(b.file, m.line, "member %s has no route=, while the member on line %d has route=%s: sessions that start on it "+
				"could never stick; give it route= with its Tomcat's jvmRoute (any unique name for a node without sessions)",
				m.addr, routed.line, routed.route.Name)
		}
	}
	for k := range first.params {
		for _, m := range b.members {
			if _, ok := m.params[k]; !ok {
				return b.unshared(first, k)
			}
		}
	}
	for _, m := range b.members {
		for k, v := range m.params {
			if w, ok := first.params[k]; !ok {
				return b.unshared(first, k)
			} else if v != w {
				return errAt(b.file, m.line, "%s=%s differs from %s=%s on line %d: ajp_balancer applies %s to all members, so give every member the same value", k, v, k, w, first.line, k)
			}
		}
	}
	return nil
}

// unshared is the error for a transport-wide parameter some members lack.
func (b *balancerConfig) unshared(first member, k string) error {
	for _, m := range b.members {
		if _, ok := m.params[k]; !ok {
			return errAt(b.file, m.line, "member %s has no %s=, which another member sets: ajp_balancer applies %s to all members, so give every member the same value", m.addr, k, k)
		}
	}
	return errAt(b.file, first.line, "member %s has no %s=, which another member sets: ajp_balancer applies %s to all members, so give every member the same value", first.addr, k, k)
}

// build makes the handlers: an ajp_path_map when a path is mapped or
// responses are rewritten, and the reverse_proxy.
func (b *balancerConfig) build(h httpcaddyfile.Helper, matcherSet caddy.ModuleMap) ([]json.RawMessage, error) {
	if err := b.settleName(h); err != nil {
		return nil, err
	}
	tr, err := b.transport()
	if err != nil {
		return nil, err
	}
	sr, err := b.policy()
	if err != nil {
		return nil, err
	}
	var handlers []json.RawMessage
	pm, err := b.pathMap(matcherSet)
	if err != nil {
		return nil, err
	}
	if pm != nil {
		handlers = append(handlers, caddyconfig.JSONModuleObject(pm, "handler", "ajp_path_map", nil))
	}
	rp, err := b.reverseProxy(h, &tr, sr)
	if err != nil {
		return nil, err
	}
	up, err := b.upgradeRoute(h, rp, sr)
	if err != nil {
		return nil, err
	}
	if up != nil {
		handlers = append(handlers, up)
	}
	return append(handlers, caddyconfig.JSONModuleObject(rp, "handler", "reverse_proxy", nil)), nil
}

// where a transport option was set: the line and how it was written
type setAt struct {
	line int
	word string
}

// transport builds the AJP transport from the balancer's words and the
// members' transport-wide parameters (checkMembers made them agree), and
// checks it with the transport's own CheckConfig.
func (b *balancerConfig) transport() (ajptransport.Transport, error) {
	t := ajptransport.Transport{Secret: b.secret, PacketSize: b.packetSize}
	at := map[string]setAt{
		"secret":      {b.lines["secret"], "secret"},
		"packet_size": {b.lines["packet_size"], "packet_size"},
	}
	m := b.members[0]
	for k, v := range m.params {
		var dur *caddy.Duration
		opt := map[string]string{"ping": "ping_timeout", "timeout": "read_timeout", "connectiontimeout": "dial_timeout", "ttl": "idle_timeout", "max": "max_conns_per_host"}[k]
		switch k {
		case "secret":
			if t.Secret != "" && t.Secret != v {
				return t, errAt(b.file, m.line, "member secret= differs from the balancer's secret on line %d", b.lines["secret"])
			}
			t.Secret, opt = v, "secret"
		case "max":
			n, err := strconv.Atoi(v)
			if err != nil {
				return t, errAt(b.file, m.line, "max=%q: want a number", v)
			}
			t.MaxConnsPerHost = n
		case "ping":
			dur = &t.PingTimeout
		case "timeout":
			dur = &t.ReadTimeout
		case "connectiontimeout":
			dur = &t.DialTimeout
		case "ttl":
			dur = &t.IdleTimeout
		}
		if dur != nil {
			d, err := apachewords.Duration(v)
			if err != nil {
				return t, errAt(b.file, m.line, "%s=%s: %v", k, v, err)
			}
			*dur = caddy.Duration(d)
		}
		if opt != "" {
			at[opt] = setAt{m.line, k + "=" + v}
		}
	}
	err := t.CheckConfig()
	var ce *ajptransport.ConfigError
	switch {
	case err == nil:
		return t, nil
	case errors.As(err, &ce) && ce.Option == "secret" && t.Secret == "":
		return t, errAt(b.file, b.line, "ajp_balancer needs the AJP secret of Tomcat's connector: secret {env.AJP_SECRET} (or secret= on the members)")
	case ce != nil && at[ce.Option].line != 0:
		return t, errAt(b.file, at[ce.Option].line, "%s: %w", at[ce.Option].word, err)
	}
	return t, errAt(b.file, b.line, "%w", err)
}

// policy builds the sticky_route policy from the members and checks it
// with the policy's own CheckConfig.
func (b *balancerConfig) policy() (stickyroute.StickyRoute, error) {
	sr := stickyroute.StickyRoute{Name: b.name, NoFailover: b.nofailover, Separator: b.separator}
	if b.cookie != "" {
		sr.Cookies, sr.PathParams = []string{b.cookie}, []string{b.param}
	}
	switch b.lbmethod {
	case "bybusyness", "bytraffic":
		// Caddy has no traffic-based policy; the number of requests in
		// flight is the closest measure of both
		sr.FallbackRaw = caddyconfig.JSONModuleObject(reverseproxy.LeastConnSelection{}, "policy", "least_conn", nil)
	}
	weighted := false
	for _, m := range b.members {
		weighted = weighted || m.route.Weight != nil && *m.route.Weight > 1
	}
	var from []member // the member of each route
	for _, m := range b.members {
		rt := m.route
		if !weighted && rt.Weight != nil && *rt.Weight == 1 {
			rt.Weight = nil // all equal: no weights at all
		}
		if rt.Name == "" && rt.Status == "" && rt.Weight == nil {
			continue // nothing for the policy to know
		}
		sr.Routes = append(sr.Routes, rt)
		from = append(from, m)
	}
	err := sr.CheckConfig()
	var ce *stickyroute.ConfigError
	switch {
	case err == nil:
		return sr, nil
	case !errors.As(err, &ce) || ce.Route < 0:
		return sr, errAt(b.file, b.line, "%w", err)
	case ce.Field == "fallback":
		m := from[ce.Route]
		return sr, errAt(b.file, b.lines["lbmethod"], "loadfactor=%d (line %d) works with lbmethod byrequests only, not %s: %w", *m.route.Weight, m.line, b.lbmethod, err)
	case ce.Field == "weight":
		return sr, errAt(b.file, from[ce.Route].line, "loadfactor=%d: %w", *from[ce.Route].route.Weight, err)
	}
	return sr, errAt(b.file, from[ce.Route].line, "%w", err)
}

// pathMap builds the ajp_path_map handler, or none when it would do
// nothing, and checks it with the handler's own CheckConfig.
func (b *balancerConfig) pathMap(matcherSet caddy.ModuleMap) (*pathmap.PathMap, error) {
	backendPath := b.members[0].path
	prefix, err := matcherPrefix(matcherSet)
	if err != nil && backendPath != "" {
		return nil, errAt(b.file, b.line, "ajp_balancer %s maps its matched path onto the members' path %s, which needs a single path matcher such as /app*: %v", b.matcherTok, backendPath, err)
	}
	if prefix == "" && backendPath == "" && !b.reverse {
		return nil, nil
	}
	pm := &pathmap.PathMap{Prefix: prefix, BackendPrefix: backendPath, Reverse: b.reverse}
	for _, m := range b.members {
		pm.Backends = append(pm.Backends, m.addr)
	}
	if err := pm.CheckConfig(); err != nil {
		return nil, errAt(b.file, b.line, "%w", err)
	}
	return pm, nil
}

// reverseProxy builds the reverse_proxy handler: the passthrough
// subdirectives first, then upstreams, transport, policy, retries and
// passive health, keeping what the user set explicitly.
func (b *balancerConfig) reverseProxy(h httpcaddyfile.Helper, tr *ajptransport.Transport, sr stickyroute.StickyRoute) (*reverseproxy.Handler, error) {
	rp := &reverseproxy.Handler{}
	if err := rp.UnmarshalCaddyfile(b.rest); err != nil {
		return nil, err
	}
	if err := rp.FinalizeUnmarshalCaddyfile(h); err != nil {
		return nil, err
	}
	if len(rp.Upstreams) > 0 || rp.DynamicUpstreamsRaw != nil {
		return nil, errAt(b.file, b.line, "ajp_balancer's upstreams are its members; remove the other upstreams")
	}
	for _, m := range b.members {
		rp.Upstreams = append(rp.Upstreams, &reverseproxy.Upstream{Dial: m.addr})
	}
	if rp.LoadBalancing == nil {
		rp.LoadBalancing = &reverseproxy.LoadBalancing{}
	}
	rp.LoadBalancing.SelectionPolicyRaw = caddyconfig.JSONModuleObject(sr, "policy", "sticky_route", nil)
	b.retries(rp.LoadBalancing, tr)
	if err := b.passiveHealth(rp); err != nil {
		return nil, err
	}
	if tr.PingTimeout == 0 {
		tr.PingTimeout = caddy.Duration(apachewords.PingTimeout) // see apachewords.HealthInterval
	}
	if err := b.activeHealth(rp, *tr); err != nil {
		return nil, err
	}
	rp.TransportRaw = caddyconfig.JSONModuleObject(tr, "protocol", "ajp", nil)
	return rp, nil
}

// retries sets lb_retries and lb_try_duration from maxattempts and
// timeout, with the directive's defaults: as many attempts as members,
// for up to read_timeout + 5 s, so that a GET stuck on a node that hung
// (and answers 504 after read_timeout) is still retried on another one;
// the number of attempts bounds the rest.
func (b *balancerConfig) retries(lb *reverseproxy.LoadBalancing, tr *ajptransport.Transport) {
	noRetries := b.maxattempts != nil && *b.maxattempts == 0
	switch {
	case b.maxattempts != nil:
		lb.Retries = *b.maxattempts
		if noRetries && b.timeout == nil {
			lb.TryDuration = 0 // maxattempts 0: no retries at all
		}
	case lb.Retries == 0:
		lb.Retries = max(len(b.members), 1)
	}
	switch {
	case b.timeout != nil && *b.timeout > 0:
		lb.TryDuration = caddy.Duration(*b.timeout)
	case lb.TryDuration == 0 && !noRetries:
		rt := time.Duration(tr.ReadTimeout)
		if rt == 0 {
			rt = ajptransport.DefaultReadTimeout
		}
		lb.TryDuration = caddy.Duration(rt + apachewords.TryMargin)
	}
}

// passiveHealth sets passive health checks from the members' retry= and
// failonstatus, with the directive's defaults.
func (b *balancerConfig) passiveHealth(rp *reverseproxy.Handler) error {
	if rp.HealthChecks == nil {
		rp.HealthChecks = &reverseproxy.HealthChecks{}
	}
	if rp.HealthChecks.Passive == nil {
		rp.HealthChecks.Passive = &reverseproxy.PassiveHealthChecks{}
	}
	ps := rp.HealthChecks.Passive
	if v, ok := b.members[0].params["retry"]; ok {
		retry, err := apachewords.Duration(v)
		if err != nil || retry < 0 {
			return errAt(b.file, b.members[0].line, "retry=%s: not a duration (seconds, 500ms, 1m)", v)
		}
		ps.FailDuration = caddy.Duration(retry) // retry=0: failed members are not kept out
	} else if ps.FailDuration == 0 {
		ps.FailDuration = caddy.Duration(apachewords.FailDuration)
	}
	if ps.MaxFails == 0 {
		ps.MaxFails = 1
	}
	ps.UnhealthyStatus = append(ps.UnhealthyStatus, b.failonstatus...)
	return nil
}

// settleName gives the balancer its name: the one given, unique in the
// Caddyfile, or one derived from the members' path ("/share" → "share",
// "" → "root"; "-2", "-3" … when taken), stable as long as the Caddyfile
// keeps its balancers in the same order.
func (b *balancerConfig) settleName(h httpcaddyfile.Helper) error {
	names, _ := h.State["ajp_balancer_names"].(map[string]int)
	if names == nil {
		names = map[string]int{}
		h.State["ajp_balancer_names"] = names
	}
	if b.name != "" {
		if line, taken := names[b.name]; taken {
			return errAt(b.file, b.lines["name"], "balancer name %q is already used by the ajp_balancer on line %d: names are unique", b.name, line)
		}
		names[b.name] = b.line
		return nil
	}
	base := strings.Trim(b.members[0].path, "/")
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	if base == "" || balancer.CheckName(base) != nil {
		base = "root"
	}
	name := base
	for n := 2; ; n++ {
		if _, taken := names[name]; !taken {
			break
		}
		name = base + "-" + strconv.Itoa(n)
	}
	names[name] = b.line
	b.name = name
	return nil
}

package apacheconf

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-ajp/caddy-ajp/ajptransport"
	"github.com/caddy-ajp/caddy-ajp/internal/apachewords"
	"github.com/caddy-ajp/caddy-ajp/pathmap"
	"github.com/caddy-ajp/caddy-ajp/stickyroute"
)

// proxy is one proxied destination as a rule uses it: a balancer (or a
// single worker) with the parameters of its ProxyPass line.
type proxy struct {
	b       *balancerDef
	single  bool              // a direct ajp:// worker or a mod_jk ajp13 worker: no sticky_route
	params  map[string]string // balancer words: ProxySet, then the ProxyPass line's
	paramAt map[string]*directive
	at      *directive // the rule
	s       *server
}

// Member parameters by what the adapter does with them.
var (
	transportParams = []string{"secret", "ping", "timeout", "connectiontimeout", "ttl", "max"}
	healthParams    = []string{"retry", "hcmethod", "hcuri", "hcinterval", "hcpasses", "hcfails"}
	policyParams    = []string{"route", "loadfactor", "status", "redirect"}
	ignoredParams   = map[string]string{
		"keepalive":         "TCP keep-alive is Go's default on every connection",
		"flushpackets":      "caddy-ajp passes every flush of the servlet on at once",
		"flushwait":         "caddy-ajp passes every flush of the servlet on at once",
		"smax":              "the pool keeps idle connections up to ttl= (idle_timeout)",
		"min":               "the pool keeps idle connections up to ttl= (idle_timeout)",
		"iobuffersize":      "the AJP packet size is ProxyIOBufferSize (packet_size)",
		"receivebuffersize": "Go sizes socket buffers itself",
		"acquire":           "a request waits for a free connection up to connectiontimeout= (dial_timeout)",
		"enablereuse":       "connections are always reused after a clean END_RESPONSE",
		"disablereuse":      "connections are always reused after a clean END_RESPONSE",
		"_packet_size":      "",
	}
	balancerParams        = []string{"stickysession", "stickysessionsep", "nofailover", "lbmethod", "maxattempts", "failonstatus", "timeout", "_retry"}
	ignoredBalancerParams = map[string]string{
		"scolonpathdelim": "sticky_route always reads the ;jsessionid= path parameter",
		"growth":          "members are added by a config reload, not at run time",
		"forcerecovery":   "active CPING health checks bring a member back as soon as it answers",
		"nonce":           "the balancer-manager is caddy-ajp's manager page, with its own CSRF protection",
		"nocanon":         "caddy-ajp never canonicalises the path (see \"What differs from Apache on purpose\")",
		"_single":         "",
	}
)

// handlers builds the handlers of a proxied route: ajp_path_map when the
// path is mapped or responses are reversed (pm non-nil), and reverse_proxy.
func (c *config) handlers(p *proxy, pm *pathmap.PathMap) ([]json.RawMessage, error) {
	b := p.b
	if len(b.members) == 0 {
		return nil, errAt(p.at, "balancer://%s has no BalancerMember (defined at %s)", b.name, b.at.where())
	}
	for _, m := range b.members {
		for _, k := range sortedKeys(m.params) {
			if why, ok := ignoredParams[k]; ok {
				if why != "" {
					c.w.ignore(m.at, fmt.Sprintf("parameter %s=: %s", k, why))
				}
			} else if !contains(transportParams, k) && !contains(healthParams, k) && !contains(policyParams, k) && k != "http" {
				c.w.notTranslated(m.at, "parameter %s= (%s): not translated", k, m.addr)
			}
		}
	}
	for _, k := range sortedKeys(p.params) {
		if why, ok := ignoredBalancerParams[k]; ok {
			if why != "" {
				c.w.ignore(p.paramAt[k], fmt.Sprintf("parameter %s=: %s", k, why))
			}
		} else if !contains(balancerParams, k) {
			c.w.notTranslated(p.paramAt[k], "balancer parameter %s= of balancer://%s: not translated", k, b.name)
		}
	}
	if err := checkShared(b); err != nil {
		return nil, err
	}
	tr, err := c.transport(p)
	if err != nil {
		return nil, err
	}
	rp := &reverseproxy.Handler{}
	for _, m := range b.members {
		rp.Upstreams = append(rp.Upstreams, &reverseproxy.Upstream{Dial: m.addr})
	}
	if tr.PingTimeout == 0 {
		tr.PingTimeout = caddy.Duration(apachewords.PingTimeout)
	}
	rp.TransportRaw = caddyconfig.JSONModuleObject(tr, "protocol", "ajp", nil)
	rp.LoadBalancing = &reverseproxy.LoadBalancing{}
	if !p.single {
		sr, err := policy(p)
		if err != nil {
			return nil, err
		}
		rp.LoadBalancing.SelectionPolicyRaw = caddyconfig.JSONModuleObject(sr, "policy", "sticky_route", nil)
	}
	if err := retries(p, rp.LoadBalancing, tr); err != nil {
		return nil, err
	}
	if err := passiveHealth(p, rp); err != nil {
		return nil, err
	}
	if err := activeHealth(p, rp, tr); err != nil {
		return nil, err
	}
	var out []json.RawMessage
	if pm != nil {
		for _, m := range b.members {
			pm.Backends = append(pm.Backends, m.addr)
		}
		if err := pm.CheckConfig(); err != nil {
			return nil, errAt(p.at, "%v", err)
		}
		out = append(out, caddyconfig.JSONModuleObject(pm, "handler", "ajp_path_map", nil))
	}
	return append(out, caddyconfig.JSONModuleObject(rp, "handler", "reverse_proxy", nil)), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkShared refuses members that disagree on a parameter one transport
// (or one health check) applies to all of them: httpd sets them per member,
// caddy-ajp per balancer.
func checkShared(b *balancerDef) error {
	first := b.members[0]
	shared := append(append([]string{"_packet_size"}, transportParams...), healthParams...)
	for _, m := range b.members[1:] {
		for _, k := range shared {
			v1, ok1 := first.params[k]
			v2, ok2 := m.params[k]
			if ok1 != ok2 || v1 != v2 {
				return errAt(m.at, "%s=%s here but %s on the member at %s: caddy-ajp applies %s to all members of balancer://%s "+
					"(one transport and health check serves them), so give every member the same value",
					k, orNone(v2, ok2), orNone(v1, ok1), first.at.where(), k, b.name)
			}
		}
	}
	routed := -1
	for i, m := range b.members {
		if m.params["route"] != "" {
			routed = i
			break
		}
	}
	for _, m := range b.members {
		if routed >= 0 && m.params["route"] == "" {
			return errAt(m.at, "member %s has no route=, while the member at %s has route=%s: sessions that start on it could never stick; "+
				"give it route= with its Tomcat's jvmRoute", m.addr, b.members[routed].at.where(), b.members[routed].params["route"])
		}
	}
	return nil
}

func orNone(v string, ok bool) string {
	if !ok {
		return "none"
	}
	return v
}

// transport maps the members' transport parameters, ProxyIOBufferSize and
// ProxyTimeout to the AJP transport, and checks it with its CheckConfig.
func (c *config) transport(p *proxy) (ajptransport.Transport, error) {
	m := p.b.members[0]
	t := ajptransport.Transport{Secret: m.params["secret"]}
	if v, ok := m.params["_packet_size"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return t, errAt(m.at, "max_packet_size %q: want a number of bytes", v)
		}
		t.PacketSize = n
	} else if n := p.s.ioBufferSize; n > ajptransport.DefaultPacketSize {
		t.PacketSize = min(n, ajptransport.MaxPacketSize)
	}
	for k, dst := range map[string]*caddy.Duration{"ping": &t.PingTimeout, "timeout": &t.ReadTimeout, "connectiontimeout": &t.DialTimeout, "ttl": &t.IdleTimeout} {
		v, ok := m.params[k]
		if !ok {
			continue
		}
		d, err := apachewords.Duration(v)
		if err != nil {
			return t, errAt(m.at, "%s=%s: %v", k, v, err)
		}
		*dst = caddy.Duration(d)
	}
	if _, ok := m.params["timeout"]; !ok && p.s.proxyTimeout > 0 {
		t.ReadTimeout = caddy.Duration(p.s.proxyTimeout)
	}
	if v, ok := m.params["max"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return t, errAt(m.at, "max=%q: want a number", v)
		}
		t.MaxConnsPerHost = n
	}
	if t.Secret == "" {
		t.InsecureNoSecret = true
		c.w.note(m.at, "no secret= (worker.X.secret for mod_jk): the AJP transport runs with insecure_no_secret, as httpd sent none; "+
			"Tomcat must have secretRequired=\"false\". Set the connector's secret and give secret= here")
	}
	if err := t.CheckConfig(); err != nil {
		var ce *ajptransport.ConfigError
		if errors.As(err, &ce) {
			return t, errAt(m.at, "%v", err)
		}
		return t, errAt(m.at, "%v", err)
	}
	return t, nil
}

// policy builds sticky_route from the balancer's words and its members, as
// ajp_balancer does.
func policy(p *proxy) (stickyroute.StickyRoute, error) {
	sr := stickyroute.StickyRoute{Name: p.b.name, Separator: p.params["stickysessionsep"]}
	if v, ok := p.params["nofailover"]; ok {
		sr.NoFailover = strings.EqualFold(v, "on")
	}
	if v := p.params["stickysession"]; v != "" {
		cookie, param, ok := strings.Cut(v, "|")
		if !ok {
			param = cookie
		}
		sr.Cookies, sr.PathParams = []string{cookie}, []string{param}
	}
	switch lb := strings.ToLower(p.params["lbmethod"]); lb {
	case "", "byrequests":
	case "bybusyness", "bytraffic":
		sr.FallbackRaw = caddyconfig.JSONModuleObject(reverseproxy.LeastConnSelection{}, "policy", "least_conn", nil)
	default:
		return sr, errAt(p.paramAt["lbmethod"], "lbmethod=%s: caddy-ajp spreads new sessions byrequests (weighted), or bybusyness/bytraffic (least_conn)", lb)
	}
	weighted := false
	routes := make([]stickyroute.Route, 0, len(p.b.members))
	for _, m := range p.b.members {
		rt := stickyroute.Route{Name: m.params["route"], Upstream: m.addr, Redirect: m.params["redirect"]}
		if v, ok := m.params["status"]; ok {
			st, err := apachewords.MemberStatus(v, false)
			if err != nil {
				return sr, errAt(m.at, "%v", err)
			}
			rt.Status = st
		}
		if v, ok := m.params["loadfactor"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return sr, errAt(m.at, "loadfactor=%q: want a number from %d to %d", v, stickyroute.MinWeight, stickyroute.MaxWeight)
			}
			rt.Weight = &n
			weighted = weighted || n > 1
		}
		routes = append(routes, rt)
	}
	var from []*memberDef
	for i, rt := range routes {
		if !weighted && rt.Weight != nil && *rt.Weight == 1 {
			rt.Weight = nil
		}
		if rt.Name == "" && rt.Status == "" && rt.Weight == nil {
			continue
		}
		sr.Routes = append(sr.Routes, rt)
		from = append(from, p.b.members[i])
	}
	if err := sr.CheckConfig(); err != nil {
		var ce *stickyroute.ConfigError
		if errors.As(err, &ce) && ce.Route >= 0 && ce.Route < len(from) {
			return sr, errAt(from[ce.Route].at, "%v", err)
		}
		return sr, errAt(p.b.at, "%v", err)
	}
	return sr, nil
}

// retries sets lb_retries and lb_try_duration from maxattempts and the
// balancer's timeout, with ajp_balancer's defaults: as many attempts as
// members, for up to read_timeout + 5 s.
func retries(p *proxy, lb *reverseproxy.LoadBalancing, tr ajptransport.Transport) error {
	lb.Retries = max(len(p.b.members), 1)
	noRetries := false
	if v, ok := p.params["maxattempts"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errAt(p.paramAt["maxattempts"], "maxattempts=%q: want a number of retries", v)
		}
		lb.Retries, noRetries = n, n == 0
	}
	rt := time.Duration(tr.ReadTimeout)
	if rt == 0 {
		rt = ajptransport.DefaultReadTimeout
	}
	lb.TryDuration = caddy.Duration(rt + apachewords.TryMargin)
	if noRetries {
		lb.TryDuration = 0
	}
	if v, ok := p.params["timeout"]; ok {
		d, err := apachewords.Duration(v)
		if err != nil || d < 0 {
			return errAt(p.paramAt["timeout"], "timeout=%q: want seconds", v)
		}
		if d > 0 {
			lb.TryDuration = caddy.Duration(d)
		}
	}
	return nil
}

// passiveHealth maps retry= (mod_jk: recover_time) and failonstatus.
func passiveHealth(p *proxy, rp *reverseproxy.Handler) error {
	ps := &reverseproxy.PassiveHealthChecks{FailDuration: caddy.Duration(apachewords.FailDuration), MaxFails: 1}
	rp.HealthChecks = &reverseproxy.HealthChecks{Passive: ps}
	m := p.b.members[0]
	v, ok := m.params["retry"]
	at := m.at
	if rv, rok := p.params["_retry"]; rok && !ok {
		v, ok, at = rv, true, p.b.at
	}
	if ok {
		d, err := apachewords.Duration(v)
		if err != nil || d < 0 {
			return errAt(at, "retry=%s: want seconds", v)
		}
		ps.FailDuration = caddy.Duration(d)
	}
	if v, ok := p.params["failonstatus"]; ok {
		for _, s := range strings.Split(v, ",") {
			code, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || code < 100 || code > 599 {
				return errAt(p.paramAt["failonstatus"], "failonstatus: %q is not an HTTP status code", s)
			}
			ps.UnhealthyStatus = append(ps.UnhealthyStatus, code)
		}
	}
	return nil
}

// activeHealth sets the CPING health check ajp_balancer sets, or what the
// members' hc* parameters say.
func activeHealth(p *proxy, rp *reverseproxy.Handler, tr ajptransport.Transport) error {
	m := p.b.members[0]
	a := &reverseproxy.ActiveHealthChecks{Method: ajptransport.MethodCPing}
	if v, ok := m.params["hcmethod"]; ok {
		switch up := strings.ToUpper(v); up {
		case "NONE":
			return nil
		case ajptransport.MethodCPing, "GET", "HEAD", "OPTIONS":
			a.Method = up
		default:
			return errAt(m.at, "hcmethod=%s: caddy-ajp checks with CPING, GET, HEAD or OPTIONS (or NONE)", v)
		}
	}
	a.URI = m.params["hcuri"]
	if v, ok := m.params["hcinterval"]; ok {
		d, err := apachewords.Duration(v)
		if err != nil || d <= 0 {
			return errAt(m.at, "hcinterval=%s: want a positive duration", v)
		}
		a.Interval = caddy.Duration(d)
	}
	for word, dst := range map[string]*int{"hcpasses": &a.Passes, "hcfails": &a.Fails} {
		if v, ok := m.params[word]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return errAt(m.at, "%s=%s: want 1 or more", word, v)
			}
			*dst = n
		}
	}
	rp.HealthChecks.Active = a
	if a.Method != ajptransport.MethodCPing {
		if a.URI == "" {
			return errAt(m.at, "hcmethod=%s needs hcuri= (the page to request), or use hcmethod=CPING", a.Method)
		}
		return nil
	}
	if a.URI == "" {
		a.URI = "/" // unused by CPING; Caddy's checker runs only with one
	}
	a.Timeout = caddy.Duration(time.Duration(tr.PingTimeout) + time.Second)
	if a.Interval == 0 {
		a.Interval = caddy.Duration(apachewords.HealthInterval)
	}
	if a.Passes == 0 {
		a.Passes = 1
	}
	if a.Fails == 0 {
		a.Fails = 1
	}
	return nil
}

// sortedKeys is for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

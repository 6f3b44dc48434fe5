// Package caddyfile holds caddy-ajp's Caddyfile directive ajp_balancer,
// which says in a few lines what Apache says with <Proxy balancer://…>,
// BalancerMember, ProxyPass and ProxyPassReverse, and the ajp_path_map
// handler it uses for the path mapping.
package caddyfile

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	cf "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-ajp/caddy-ajp/ajptransport"
	"github.com/caddy-ajp/caddy-ajp/stickyroute"
)

func init() {
	httpcaddyfile.RegisterDirective("ajp_balancer", parseAJPBalancer)
	// works without a global `order` option: where reverse_proxy goes
	httpcaddyfile.RegisterDirectiveOrder("ajp_balancer", httpcaddyfile.Before, "reverse_proxy")
}

// Defaults the directive sets so that failover works out of the box.
const (
	defaultTryDuration  = 5 * time.Second
	defaultFailDuration = 5 * time.Second
)

// member is one BalancerMember.
type member struct {
	addr   string // host:port
	path   string // the backend path, e.g. /share
	route  stickyroute.Route
	file   string
	line   int
	params map[string]string // transport-wide parameters, to check they agree
}

// errAt is a parse error at a given place, in the form Caddy's own
// Caddyfile errors take.
func errAt(file string, line int, format string, args ...any) error {
	return fmt.Errorf("%s, at %s:%d", fmt.Sprintf(format, args...), file, line)
}

// balancer collects what the directive's words say.
type balancer struct {
	members       []member
	cookie, param string
	separator     string
	nofailover    bool
	lbmethod      string
	maxattempts   int
	maxattemptSet bool
	failonstatus  []int
	timeout       time.Duration
	retry         time.Duration
	retrySet      bool
	file          string
	line          int    // the directive's
	matcherTok    string // the matcher token as written
	reverse       bool
	transport     ajptransport.Transport
}

// parseAJPBalancer sets up the ajp_balancer directive. Syntax:
//
//	ajp_balancer [<matcher>] {
//	    member ajp://<host>:<port>[/<path>] [route=<name>] [loadfactor=<n>] [status=+D|+S|+H|+N]
//	           [redirect=<route>] [secret=<secret>] [ping=<s>] [timeout=<s>]
//	           [connectiontimeout=<s>] [ttl=<s>] [max=<n>] [retry=<s>]
//	    stickysession <COOKIE>[|<pathparam>]
//	    stickysessionsep <sep>
//	    nofailover [on|off]
//	    lbmethod byrequests|bybusyness|bytraffic
//	    maxattempts <n>
//	    failonstatus <code>[,<code>…]
//	    timeout <seconds>
//	    secret <secret>
//	    packet_size <bytes>
//	    proxypassreverse on|off
//	    # any reverse_proxy subdirective
//	}
func parseAJPBalancer(h httpcaddyfile.Helper) ([]httpcaddyfile.ConfigValue, error) {
	if !h.Next() {
		return nil, h.ArgErr()
	}
	b := balancer{reverse: true, file: h.File(), line: h.Line()}
	if h.NextArg() {
		b.matcherTok = h.Val()
		h.Prev()
	}
	userMatcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, err
	}
	d := h.NewFromNextSegment()

	for d.Next() {
		if d.NextArg() {
			return nil, d.Errf("ajp_balancer: unexpected argument %q: it takes one path matcher, and its members in its block (member ajp://host:port/path route=…)", d.Val())
		}
		for d.NextBlock(0) {
			if d.Nesting() != 1 {
				continue // inside a reverse_proxy subdirective's block
			}
			word := d.Val()
			args := d.RemainingArgs()
			consumed := true
			switch word {
			case "member":
				m, err := parseMember(d, args)
				if err != nil {
					return nil, err
				}
				for _, prev := range b.members {
					if m.route.Name != "" && prev.route.Name == m.route.Name {
						return nil, d.Errf("route=%s is already the route of the member on line %d", m.route.Name, prev.line)
					}
					if strings.EqualFold(prev.addr, m.addr) {
						return nil, d.Errf("member %s is already given on line %d", m.addr, prev.line)
					}
				}
				b.members = append(b.members, m)
			case "stickysession":
				if len(args) != 1 {
					return nil, d.Errf("stickysession takes one value, COOKIE or COOKIE|pathparam (as Apache's stickysession=JSESSIONID|jsessionid)")
				}
				cookie, param, ok := strings.Cut(args[0], "|")
				if !ok {
					param = cookie
				}
				if cookie == "" || param == "" {
					return nil, d.Errf("stickysession %q: empty cookie or path parameter name", args[0])
				}
				b.cookie, b.param = cookie, param
			case "stickysessionsep":
				if len(args) != 1 || args[0] == "" {
					return nil, d.ArgErr()
				}
				b.separator = args[0]
			case "nofailover":
				switch {
				case len(args) == 0 || len(args) == 1 && strings.EqualFold(args[0], "on"):
					b.nofailover = true
				case len(args) == 1 && strings.EqualFold(args[0], "off"):
					b.nofailover = false
				default:
					return nil, d.Errf("nofailover takes on or off, not %q", strings.Join(args, " "))
				}
			case "lbmethod":
				if len(args) != 1 {
					return nil, d.ArgErr()
				}
				switch args[0] {
				case "byrequests", "bybusyness", "bytraffic":
					b.lbmethod = args[0]
				default:
					return nil, d.Errf("lbmethod %q is not supported: use byrequests, bybusyness or bytraffic", args[0])
				}
			case "maxattempts":
				n, err := oneInt(d, word, args)
				if err != nil {
					return nil, err
				}
				b.maxattempts, b.maxattemptSet = n, true
			case "failonstatus":
				if len(args) == 0 {
					return nil, d.ArgErr()
				}
				for _, a := range strings.Split(strings.Join(args, ","), ",") {
					if a = strings.TrimSpace(a); a == "" {
						continue
					}
					code, err := strconv.Atoi(a)
					if err != nil || code < 100 || code > 599 {
						return nil, d.Errf("failonstatus: %q is not an HTTP status code", a)
					}
					b.failonstatus = append(b.failonstatus, code)
				}
			case "timeout":
				if len(args) != 1 {
					return nil, d.ArgErr()
				}
				dur, err := apacheDuration(args[0])
				if err != nil {
					return nil, d.Errf("timeout: %v", err)
				}
				b.timeout = dur
			case "secret":
				if len(args) != 1 {
					return nil, d.ArgErr()
				}
				b.transport.Secret = args[0]
			case "packet_size":
				n, err := oneInt(d, word, args)
				if err != nil {
					return nil, err
				}
				if n < ajptransport.MinPacketSize || n > ajptransport.MaxPacketSize {
					return nil, d.Errf("packet_size %d out of range %d–%d (it must equal packetSize of Tomcat's AJP connector)", n, ajptransport.MinPacketSize, ajptransport.MaxPacketSize)
				}
				b.transport.PacketSize = n
			case "proxypassreverse":
				if len(args) != 1 || (!strings.EqualFold(args[0], "on") && !strings.EqualFold(args[0], "off")) {
					return nil, d.Errf("proxypassreverse takes on or off, not %q", strings.Join(args, " "))
				}
				b.reverse = strings.EqualFold(args[0], "on")
			case "transport", "lb_policy", "to", "dynamic":
				return nil, d.Errf("%s is set by ajp_balancer itself (members, stickysession, lbmethod); for anything else use a plain reverse_proxy", word)
			default:
				consumed = false // a reverse_proxy subdirective: leave it
			}
			if consumed {
				d.DeleteN(len(args) + 1)
			}
		}
	}
	if len(b.members) == 0 {
		return nil, errAt(b.file, b.line, "ajp_balancer needs at least one member (member ajp://host:port/path route=name)")
	}
	if err := b.settleTransport(); err != nil {
		return nil, err
	}
	prefix, err := matcherPrefix(userMatcherSet)
	backendPath := b.members[0].path
	for _, m := range b.members[1:] {
		if m.path != backendPath {
			return nil, errAt(m.file, m.line, "member path %q differs from %q on line %d: one ajp_balancer maps to one path", m.path, backendPath, b.members[0].line)
		}
	}
	if err != nil && backendPath != "" {
		return nil, errAt(b.file, b.line, "ajp_balancer %s maps its matched path onto the members' path %s, which needs a single path matcher such as /app*: %v", b.matcherTok, backendPath, err)
	}
	names := map[string]bool{}
	for _, m := range b.members {
		names[m.route.Name] = m.route.Name != ""
	}
	for _, m := range b.members {
		if m.route.Redirect != "" && !names[m.route.Redirect] {
			return nil, errAt(m.file, m.line, "redirect=%s names no member's route", m.route.Redirect)
		}
		if m.route.Weight > 1 && (b.lbmethod == "bybusyness" || b.lbmethod == "bytraffic") {
			return nil, errAt(m.file, m.line, "loadfactor=%d works with lbmethod byrequests only, not %s", m.route.Weight, b.lbmethod)
		}
	}

	// the reverse_proxy: passthrough subdirectives first, then ours
	rp := &reverseproxy.Handler{}
	// rewind to just before the directive name, which UnmarshalCaddyfile
	// consumes itself (the segment may start with an empty token left by
	// the matcher extraction)
	d.Reset()
	for d.Next() && d.Val() != "ajp_balancer" {
	}
	d.Prev()
	if err := rp.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	if err := rp.FinalizeUnmarshalCaddyfile(h); err != nil {
		return nil, err
	}
	if err := b.configure(rp); err != nil {
		return nil, errAt(b.file, b.line, "%v", err)
	}

	handlers := []json.RawMessage{}
	if prefix != "" || backendPath != "" || b.reverse {
		pm := PathMap{Prefix: prefix, BackendPrefix: backendPath, Reverse: b.reverse}
		for _, m := range b.members {
			pm.Backends = append(pm.Backends, m.addr)
		}
		handlers = append(handlers, caddyconfig.JSONModuleObject(pm, "handler", "ajp_path_map", nil))
	}
	handlers = append(handlers, caddyconfig.JSONModuleObject(rp, "handler", "reverse_proxy", nil))
	route := caddyhttp.Route{HandlersRaw: handlers}
	if userMatcherSet != nil {
		route.MatcherSetsRaw = []caddy.ModuleMap{userMatcherSet}
	}
	return []httpcaddyfile.ConfigValue{{Class: "route", Value: route}}, nil
}

// parseMember reads `member ajp://host:port/path key=value…`.
func parseMember(d *cf.Dispenser, args []string) (member, error) {
	m := member{file: d.File(), line: d.Line(), params: map[string]string{}}
	if len(args) == 0 {
		return m, d.Errf("member needs a URL: member ajp://host:port/path route=name")
	}
	u, err := url.Parse(args[0])
	if err != nil || u.Host == "" {
		return m, d.Errf("member %q: not a URL like ajp://localhost:8010/share", args[0])
	}
	if u.Scheme != "ajp" {
		return m, d.Errf("member %q: only ajp:// members are supported (for http:// members use reverse_proxy)", args[0])
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return m, d.Errf("member %q: a member URL has no query, fragment or user", args[0])
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "8009") // AJP's port
	}
	m.addr = host
	m.path = strings.TrimRight(u.EscapedPath(), "/")
	m.route.Upstream = host
	for _, kv := range args[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return m, d.Errf("member parameter %q: want key=value", kv)
		}
		switch strings.ToLower(k) {
		case "route":
			m.route.Name = v
		case "loadfactor":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return m, d.Errf("loadfactor %q: want a number from 1 to 100", v)
			}
			m.route.Weight = n
		case "status":
			st, err := memberStatus(v)
			if err != nil {
				return m, d.Errf("%v", err)
			}
			m.route.Status = st
		case "redirect":
			m.route.Redirect = v
		case "secret", "ping", "timeout", "connectiontimeout", "ttl", "max", "retry":
			m.params[strings.ToLower(k)] = v
		default:
			return m, d.Errf("member parameter %q is not supported by ajp_balancer (supported: route, loadfactor, status, redirect, secret, ping, timeout, connectiontimeout, ttl, max, retry)", k)
		}
	}
	return m, nil
}

// memberStatus maps Apache's status flags onto sticky_route statuses.
func memberStatus(v string) (string, error) {
	flag := strings.TrimPrefix(v, "+")
	if strings.HasPrefix(v, "-") && len(v) == 2 && strings.ContainsAny(strings.ToUpper(v[1:]), "DSHN") {
		return stickyroute.StatusActive, nil // clearing a flag: active
	}
	switch strings.ToUpper(flag) {
	case "D":
		return stickyroute.StatusDisabled, nil
	case "S":
		return stickyroute.StatusStopped, nil
	case "H":
		return stickyroute.StatusStandby, nil
	case "N":
		return stickyroute.StatusDrain, nil
	}
	return "", fmt.Errorf("status %q is not supported: use +D (disabled), +S (stopped), +H (hot standby) or +N (drain)", v)
}

// settleTransport maps the member parameters that configure the transport.
// One transport serves all members, so such a parameter must be given on
// every member with the same value, or on none.
func (b *balancer) settleTransport() error {
	keys := map[string]bool{}
	for _, m := range b.members {
		for k := range m.params {
			keys[k] = true
		}
	}
	t := &b.transport
	for k := range keys {
		first := b.members[0]
		for _, m := range b.members {
			v, ok := m.params[k]
			if !ok {
				return errAt(m.file, m.line, "member %s has no %s=, which another member sets: ajp_balancer applies %s to all members, so give every member the same value", m.addr, k, k)
			}
			if v != first.params[k] {
				return errAt(m.file, m.line, "%s=%s differs from %s=%s on line %d: ajp_balancer applies %s to all members, so give every member the same value", k, v, k, first.params[k], first.line, k)
			}
		}
		v, m := first.params[k], first
		switch k {
		case "secret":
			if t.Secret != "" && t.Secret != v {
				return errAt(m.file, m.line, "member secret= differs from the balancer's secret")
			}
			t.Secret = v
		case "max":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errAt(m.file, m.line, "max=%q: want a number", v)
			}
			t.MaxConnsPerHost = n
		default:
			dur, err := apacheDuration(v)
			if err != nil {
				return errAt(m.file, m.line, "%s=%q: %v", k, v, err)
			}
			switch k {
			case "ping":
				t.PingTimeout = caddy.Duration(dur)
			case "timeout":
				t.ReadTimeout = caddy.Duration(dur)
			case "connectiontimeout":
				t.DialTimeout = caddy.Duration(dur)
			case "ttl":
				t.IdleTimeout = caddy.Duration(dur)
			case "retry":
				b.retry, b.retrySet = dur, true
			}
		}
	}
	if t.Secret == "" {
		return errAt(b.file, b.line, "ajp_balancer needs the AJP secret of Tomcat's connector: secret {env.AJP_SECRET} (or secret= on the members)")
	}
	return nil
}

// configure fills the reverse_proxy handler: upstreams, transport, policy,
// retries and passive health, keeping what the user set explicitly.
func (b *balancer) configure(rp *reverseproxy.Handler) error {
	if len(rp.Upstreams) > 0 || rp.DynamicUpstreamsRaw != nil {
		return fmt.Errorf("ajp_balancer's upstreams are its members; remove the other upstreams")
	}
	sr := stickyroute.StickyRoute{NoFailover: b.nofailover, Separator: b.separator}
	if b.cookie != "" {
		sr.Cookies, sr.PathParams = []string{b.cookie}, []string{b.param}
	}
	weighted := false
	for _, m := range b.members {
		rp.Upstreams = append(rp.Upstreams, &reverseproxy.Upstream{Dial: m.addr})
		if m.route.Weight > 1 {
			weighted = true
		}
		if m.route.Name == "" && m.route.Status == "" && m.route.Weight == 0 {
			continue // nothing for the policy to know
		}
		sr.Routes = append(sr.Routes, m.route)
	}
	switch b.lbmethod {
	case "bybusyness", "bytraffic":
		// Caddy has no traffic-based policy; the number of requests in
		// flight is the closest measure of both (loadfactor was refused
		// for these when the members were read)
		sr.FallbackRaw = caddyconfig.JSONModuleObject(reverseproxy.LeastConnSelection{}, "policy", "least_conn", nil)
	}
	if !weighted {
		for i := range sr.Routes {
			sr.Routes[i].Weight = 0
		}
	}
	b.transport.RequestAttributes = nil
	rp.TransportRaw = caddyconfig.JSONModuleObject(b.transport, "protocol", "ajp", nil)

	if rp.LoadBalancing == nil {
		rp.LoadBalancing = &reverseproxy.LoadBalancing{}
	}
	lb := rp.LoadBalancing
	lb.SelectionPolicyRaw = caddyconfig.JSONModuleObject(sr, "policy", "sticky_route", nil)
	switch {
	case b.maxattemptSet:
		lb.Retries = b.maxattempts
		if b.maxattempts == 0 && b.timeout == 0 {
			lb.TryDuration = 0 // maxattempts 0: no retries at all
		}
	case lb.Retries == 0:
		lb.Retries = max(len(b.members), 1)
	}
	switch {
	case b.timeout > 0:
		lb.TryDuration = caddy.Duration(b.timeout)
	case lb.TryDuration == 0 && !(b.maxattemptSet && b.maxattempts == 0):
		lb.TryDuration = caddy.Duration(defaultTryDuration)
	}

	if rp.HealthChecks == nil {
		rp.HealthChecks = &reverseproxy.HealthChecks{}
	}
	if rp.HealthChecks.Passive == nil {
		rp.HealthChecks.Passive = &reverseproxy.PassiveHealthChecks{}
	}
	ps := rp.HealthChecks.Passive
	if b.retrySet {
		ps.FailDuration = caddy.Duration(b.retry) // retry=0: failed members are not kept out
	} else if ps.FailDuration == 0 {
		ps.FailDuration = caddy.Duration(defaultFailDuration)
	}
	if ps.MaxFails == 0 {
		ps.MaxFails = 1
	}
	ps.UnhealthyStatus = append(ps.UnhealthyStatus, b.failonstatus...)
	return nil
}

// matcherPrefix derives the client-facing path prefix from the directive's
// matcher: none or "*" is the whole site; a single path pattern like
// "/app*", "/app/*" or "/app" gives "/app".
func matcherPrefix(set caddy.ModuleMap) (string, error) {
	if set == nil {
		return "", nil
	}
	raw, ok := set["path"]
	if !ok || len(set) != 1 {
		return "", fmt.Errorf("the matcher is not a path matcher")
	}
	var paths []string
	if err := json.Unmarshal(raw, &paths); err != nil || len(paths) != 1 {
		return "", fmt.Errorf("the matcher has %d paths", len(paths))
	}
	p := strings.TrimSuffix(paths[0], "*")
	if strings.ContainsAny(p, "*?[") || !strings.HasPrefix(p, "/") && p != "" {
		return "", fmt.Errorf("path pattern %q is not a prefix", paths[0])
	}
	return strings.TrimRight(p, "/"), nil
}

// apacheDuration reads Apache's time values: seconds, or milliseconds with
// an "ms" suffix; Caddy durations ("1m30s") are accepted too.
func apacheDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur < 0 {
		return 0, fmt.Errorf("%q is not a duration (seconds, 500ms, 1m)", v)
	}
	return dur, nil
}

func oneInt(d *cf.Dispenser, word string, args []string) (int, error) {
	if len(args) != 1 {
		return 0, d.ArgErr()
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 {
		return 0, d.Errf("%s: %q is not a number", word, args[0])
	}
	return n, nil
}

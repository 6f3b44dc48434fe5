package apacheconf

import (
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-ajp/caddy-ajp/pathmap"
)

// route is a caddyhttp route as JSON.
type route struct {
	Match    []map[string]any  `json:"match,omitempty"`
	Handle   []json.RawMessage `json:"handle,omitempty"`
	Terminal bool              `json:"terminal,omitempty"`
}

// serverRoutes builds the routes of one httpd server, in httpd's order:
// ProxyPass in <Location> (the last matching <Location> wins, so in reverse
// order), then server-level ProxyPass and ProxyPassMatch (the main
// server's first, which vhosts inherit), then JkUnMount, then JkMount
// (exact patterns first, then the longest), then what the server does with
// any other path: its DocumentRoot through file_server, or 404.
func (c *config) serverRoutes(s *server) ([]route, error) {
	rules := slices.Clone(s.locRules)
	slices.Reverse(rules)
	if s.vhost != nil {
		rules = append(rules, c.main.rules...)
	}
	rules = append(rules, s.rules...)
	mounts := slices.Clone(s.jkMounts)
	if s.vhost != nil && (s.jkMountCopy || c.main.jkMountCopy) {
		mounts = append(slices.Clone(c.main.jkMounts), mounts...)
	}
	var unmounts, jk []*rule
	for _, r := range mounts {
		if r.exclude {
			unmounts = append(unmounts, r)
		} else {
			jk = append(jk, r)
		}
	}
	slices.SortStableFunc(jk, func(a, b *rule) int {
		ae, be := !strings.ContainsAny(a.path, "*?"), !strings.ContainsAny(b.path, "*?")
		if ae != be {
			if ae {
				return -1
			}
			return 1
		}
		return len(b.path) - len(a.path)
	})
	rules = append(append(rules, unmounts...), jk...)

	fallback := c.fallback(s)
	var out []route
	used := map[*reverse]bool{}
	for i, r := range rules {
		match, prefix, err := ruleMatch(r, i)
		if err != nil {
			return nil, err
		}
		rt := route{Match: match, Terminal: true}
		if r.exclude {
			rt.Handle = fallback
			out = append(out, rt)
			continue
		}
		h, err := c.ruleHandlers(s, r, prefix, i, used)
		if errors.Is(err, errStatusWorker) {
			c.w.notTranslated(r.at, "%s mounts the mod_jk status worker %s: caddy-ajp's status and control is the admin API (/ajp/balancers) and the ajp_manager page; add an ajp_manager route here by hand", r.at.name, r.target)
			continue
		}
		if err != nil {
			return nil, err
		}
		rt.Handle = h
		out = append(out, rt)
	}
	c.unusedReverses(s, used)
	return append(out, route{Handle: fallback}), nil
}

// ruleMatch is the matcher of a rule: a ProxyPass prefix matches at path
// segment boundaries (ProxyPass /share takes /share and /share/x, not
// /shared), ProxyPassMatch is a path_regexp, JkMount patterns are path
// patterns.
func ruleMatch(r *rule, i int) ([]map[string]any, string, error) {
	switch {
	case r.regexp != "":
		if _, err := regexp.Compile(r.regexp); err != nil {
			return nil, "", errAt(r.at, "ProxyPassMatch %s: %v", r.regexp, err)
		}
		return []map[string]any{{"path_regexp": map[string]string{"name": "pm" + strconv.Itoa(i), "pattern": r.regexp}}}, "", nil
	case r.jk:
		return jkMatch(r), "", nil
	}
	p := r.path
	if !strings.HasPrefix(p, "/") {
		return nil, "", errAt(r.at, "%s %s: the path must start with /", r.at.name, p)
	}
	if p == "/" {
		return nil, "", nil
	}
	if strings.HasSuffix(p, "/") {
		return []map[string]any{{"path": []string{p + "*"}}}, strings.TrimRight(p, "/"), nil
	}
	return []map[string]any{{"path": []string{p, p + "/*"}}}, p, nil
}

// jkMatch turns a mod_jk pattern into a matcher: Caddy's path patterns
// for exact, /prefix/* and *.ext patterns; a path_regexp for the rest
// (mod_jk's * also matches /).
func jkMatch(r *rule) []map[string]any {
	p := r.path
	inner := strings.Trim(p, "*")
	switch {
	case !strings.ContainsAny(inner, "*?") && (!strings.ContainsAny(p, "*?") || strings.HasSuffix(p, "/*") || strings.HasPrefix(p, "*.")):
		return []map[string]any{{"path": []string{p}}}
	}
	var b strings.Builder
	b.WriteString("^")
	for _, ch := range p {
		switch ch {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	b.WriteString("$")
	return []map[string]any{{"path_regexp": map[string]string{"pattern": b.String()}}}
}

// ruleHandlers resolves a rule's target and builds its handlers.
func (c *config) ruleHandlers(s *server, r *rule, prefix string, i int, used map[*reverse]bool) ([]json.RawMessage, error) {
	p := &proxy{at: r.at, s: s, params: map[string]string{}, paramAt: map[string]*directive{}}
	var targetPath string
	if r.jk {
		b, err := c.worker(r.target, r.at)
		if err != nil {
			return nil, err
		}
		p.b, p.single = b, b.params["_single"] != ""
		maps.Copy(p.params, b.params)
		for k := range b.params {
			p.paramAt[k] = b.at
		}
	} else {
		u, err := url.Parse(r.target)
		if err != nil {
			return nil, errAt(r.at, "%s: %v", r.target, err)
		}
		targetPath = strings.TrimRight(u.EscapedPath(), "/")
		if strings.EqualFold(u.Scheme, "balancer") {
			b, err := c.balancer(s, r.at, r.target)
			if err != nil {
				return nil, err
			}
			p.b = b
			maps.Copy(p.params, b.params)
			maps.Copy(p.paramAt, b.paramAt)
			for k, v := range r.params {
				p.params[k], p.paramAt[k] = v, r.at
			}
		} else {
			// a direct worker: the ProxyPass line's parameters are the worker's
			m := &memberDef{at: r.at, addr: u.Host, params: map[string]string{}}
			if u.Port() == "" {
				m.addr = u.Hostname() + ":8009"
			}
			for k, v := range r.params {
				if contains(balancerParams, k) || ignoredBalancerParams[k] != "" {
					p.params[k], p.paramAt[k] = v, r.at
				} else {
					m.params[k] = v
				}
			}
			p.b = &balancerDef{name: u.Host, at: r.at, members: []*memberDef{m}, params: map[string]string{}, paramAt: map[string]*directive{}}
			p.single = true
		}
	}
	if len(p.b.members) == 0 {
		return nil, errAt(r.at, "balancer://%s has no BalancerMember", p.b.name)
	}
	memberPath := p.b.members[0].path
	for _, m := range p.b.members[1:] {
		if m.path != memberPath {
			return nil, errAt(m.at, "member path %q differs from %q (%s): caddy-ajp maps one balancer to one path", m.path, memberPath, p.b.members[0].at.where())
		}
	}
	backend := memberPath + targetPath
	if r.regexp != "" {
		return c.matchHandlers(p, r, backend, i)
	}
	reverse := c.reversed(s, r, p, backend, used)
	var pm *pathmap.PathMap
	switch {
	case r.jk:
		// mod_jk compares case-sensitively: /SHARE/x is not /share/*; the
		// handler refuses what Caddy's case-insensitive path matcher let in
		lit := strings.TrimSuffix(r.path, "/*")
		if strings.HasPrefix(lit, "/") && lit != "/" && !strings.ContainsAny(lit, "*?") {
			pm = &pathmap.PathMap{Prefix: lit, BackendPrefix: lit}
		}
	case prefix != "" || backend != "" || reverse:
		pm = &pathmap.PathMap{Prefix: prefix, BackendPrefix: backend, Reverse: reverse}
	}
	return c.handlers(p, pm)
}

// matchHandlers builds a ProxyPassMatch: a rewrite to the target's path
// with $N from the regexp, then reverse_proxy.
func (c *config) matchHandlers(p *proxy, r *rule, backend string, i int) ([]json.RawMessage, error) {
	name := "pm" + strconv.Itoa(i)
	uri := regexp.MustCompile(`\$(\d)`).ReplaceAllString(backend, "{http.regexp."+name+".$1}")
	if uri == "" {
		uri = "{http.request.uri.path}"
	}
	h, err := c.handlers(p, nil)
	if err != nil {
		return nil, err
	}
	rw := caddyconfig.JSON(map[string]string{"handler": "rewrite", "uri": uri}, nil)
	return append([]json.RawMessage{rw}, h...), nil
}

// reversed reports whether a ProxyPassReverse reverses this rule (same
// path, and the rule's target or one of its members' URLs), and checks the
// cookie directives against what ajp_path_map does.
func (c *config) reversed(s *server, r *rule, p *proxy, backend string, used map[*reverse]bool) bool {
	if r.jk {
		return false
	}
	trim := func(v string) string { return strings.TrimRight(v, "/") }
	found := false
	for _, rv := range c.allReverses(s) {
		if trim(rv.from) != trim(r.path) {
			continue
		}
		if strings.EqualFold(trim(rv.to), trim(r.target)) {
			found, used[rv] = true, true
			continue
		}
		for _, m := range p.b.members {
			if strings.EqualFold(trim(rv.to), trim("ajp://"+m.addr+m.path)) {
				found, used[rv] = true, true
			}
		}
	}
	if found {
		for _, cp := range s.cookiePaths {
			if trim(cp.from) == trim(r.path) && trim(cp.to) == backend {
				used[cp] = true
			}
		}
		for _, cd := range s.cookieDomain {
			for _, m := range p.b.members {
				if h, _, _ := strings.Cut(m.addr, ":"); strings.EqualFold(cd.to, h) {
					used[cd] = true
				}
			}
		}
		if trim(r.path) != backend && backend != "" {
			covered := false
			for _, cp := range s.cookiePaths {
				covered = covered || used[cp]
			}
			if client := trim(r.path) + map[bool]string{true: "/"}[trim(r.path) == ""]; !covered {
				c.w.note(r.at, "ajp_path_map also rewrites Set-Cookie Path=%s to Path=%s (httpd does that only with ProxyPassReverseCookiePath %s %s)", backend, client, backend, client)
			}
		}
	}
	return found
}

func (c *config) allReverses(s *server) []*reverse {
	if s.vhost == nil {
		return s.reverses
	}
	return append(slices.Clone(c.main.reverses), s.reverses...)
}

// unusedReverses warns about ProxyPassReverse* lines no proxied route
// took: their rewriting does not happen in Caddy.
func (c *config) unusedReverses(s *server, used map[*reverse]bool) {
	for _, rv := range s.reverses {
		if !used[rv] {
			c.w.notTranslated(rv.at, "%s", hints["proxypassreverse"])
		}
	}
	for _, rv := range s.cookiePaths {
		if !used[rv] {
			c.w.notTranslated(rv.at, "ajp_path_map rewrites Set-Cookie Path only from the members' path to the client-facing path of a reversed ProxyPass; this pair is not one")
		}
	}
	for _, rv := range s.cookieDomain {
		if !used[rv] {
			c.w.notTranslated(rv.at, "%s", hints["proxypassreversecookiedomain"])
		}
	}
}

// fallback is what a server does with a path no rule proxies: serve its
// DocumentRoot, or 404 when it has none.
func (c *config) fallback(s *server) []json.RawMessage {
	root := s.docRoot
	if root == "" && s.vhost != nil {
		root = c.main.docRoot
	}
	if root == "" {
		return []json.RawMessage{caddyconfig.JSON(map[string]any{"handler": "static_response", "status_code": 404}, nil)}
	}
	return []json.RawMessage{caddyconfig.JSON(map[string]any{"handler": "file_server", "root": root}, nil)}
}

// subroute wraps routes in a subroute handler.
func subroute(rs []route) json.RawMessage {
	return caddyconfig.JSON(map[string]any{"handler": "subroute", "routes": rs}, nil)
}

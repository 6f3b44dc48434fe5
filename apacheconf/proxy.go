package apacheconf

import (
	"net"
	"net/url"
	"strings"
)

// proxySection reads <Proxy balancer://NAME>: its BalancerMembers and
// ProxySet. Other <Proxy> sections hold access rules, which are not
// translated.
func (c *config) proxySection(s *server, d *directive) error {
	if len(d.args) != 1 || !strings.HasPrefix(strings.ToLower(d.args[0]), "balancer://") {
		if len(d.block) > 0 {
			c.w.notTranslated(d, "<Proxy %s> (rules for proxied URLs) is not translated; its %d directive(s) do not apply in Caddy", strings.Join(d.args, " "), countDirectives(d.block))
		}
		return nil
	}
	b, err := c.balancer(s, d, d.args[0])
	if err != nil {
		return err
	}
	for _, in := range d.block {
		switch {
		case in.is("BalancerMember"):
			if len(in.args) == 0 {
				return errAt(in, "BalancerMember needs a URL: BalancerMember ajp://host:port/path route=NAME")
			}
			if err := addMember(b, in, in.args); err != nil {
				return err
			}
		case in.is("ProxySet"):
			if err := c.setParams(b, in, in.args); err != nil {
				return err
			}
		default:
			if why, ok := ignored[strings.ToLower(in.name)]; ok {
				c.w.ignore(in, why)
			} else if h, ok := hints[strings.ToLower(in.name)]; ok {
				c.w.notTranslated(in, "inside <Proxy %s>: %s", d.args[0], h)
			} else {
				c.w.notTranslated(in, "inside <Proxy %s>: not translated; add the equivalent by hand", d.args[0])
			}
		}
	}
	return nil
}

// balancer finds or makes the balancer a balancer:// URL names: a vhost's
// own, or the main server's, which vhosts inherit.
func (c *config) balancer(s *server, d *directive, raw string) (*balancerDef, error) {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "balancer") || u.Host == "" {
		return nil, errAt(d, "%q is not a balancer URL like balancer://app", raw)
	}
	name := strings.ToLower(u.Host)
	if b := s.balancers[name]; b != nil {
		return b, nil
	}
	if b := c.main.balancers[name]; b != nil {
		return b, nil
	}
	b := &balancerDef{name: u.Host, at: d, params: map[string]string{}, paramAt: map[string]*directive{}}
	s.balancers[name] = b
	return b, nil
}

// addMember reads `BalancerMember ajp://host:port/path key=value…`.
func addMember(b *balancerDef, d *directive, args []string) error {
	u, err := url.Parse(args[0])
	if err != nil || u.Host == "" {
		return errAt(d, "BalancerMember %q: not a URL like ajp://localhost:8009/app", args[0])
	}
	if !strings.EqualFold(u.Scheme, "ajp") {
		return errAt(d, "BalancerMember %s: only ajp:// members are translated (caddy-ajp is an AJP front end; proxy http:// members with a plain reverse_proxy)", args[0])
	}
	m := &memberDef{at: d, addr: u.Host, path: strings.TrimRight(u.EscapedPath(), "/"), params: map[string]string{}}
	if u.Port() == "" {
		m.addr = net.JoinHostPort(u.Hostname(), "8009")
	}
	for _, prev := range b.members {
		if strings.EqualFold(prev.addr, m.addr) {
			return errAt(d, "BalancerMember %s is already a member of balancer://%s (%s)", m.addr, b.name, prev.at.where())
		}
	}
	for _, kv := range args[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return errAt(d, "BalancerMember parameter %q: want key=value", kv)
		}
		m.params[strings.ToLower(k)] = v
	}
	b.members = append(b.members, m)
	return nil
}

// proxySet reads `ProxySet balancer://NAME key=value…` outside <Proxy>.
func (c *config) proxySet(s *server, d *directive, target string, args []string) error {
	if !strings.HasPrefix(strings.ToLower(target), "balancer://") {
		c.w.notTranslated(d, "ProxySet for a single worker (%s): give the parameters on its ProxyPass line instead", target)
		return nil
	}
	b, err := c.balancer(s, d, target)
	if err != nil {
		return err
	}
	return c.setParams(b, d, args)
}

func (c *config) setParams(b *balancerDef, d *directive, args []string) error {
	for _, kv := range args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return errAt(d, "ProxySet parameter %q: want key=value", kv)
		}
		k = strings.ToLower(k)
		b.params[k], b.paramAt[k] = v, d
	}
	return nil
}

// proxyPass reads ProxyPass and ProxyPassMatch, at server level or in a
// <Location> (loc is its path; there the path argument is left out).
func (c *config) proxyPass(s *server, d *directive, loc string) error {
	args := d.args
	r := &rule{at: d, params: map[string]string{}}
	match := d.is("ProxyPassMatch")
	if loc == "" {
		if len(args) < 2 {
			return errAt(d, "%s takes a path and a URL (or !)", d.name)
		}
		if match {
			r.regexp = args[0]
		} else {
			r.path = args[0]
		}
		args = args[1:]
	} else {
		if len(args) < 1 {
			return errAt(d, "%s in <Location %s> takes a URL (or !)", d.name, loc)
		}
		r.path = loc
	}
	r.target = args[0]
	for _, kv := range args[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			if strings.EqualFold(kv, "nocanon") || strings.EqualFold(kv, "interpolate") || strings.EqualFold(kv, "noquery") {
				r.params[strings.ToLower(kv)] = "on"
				continue
			}
			return errAt(d, "%s parameter %q: want key=value", d.name, kv)
		}
		r.params[strings.ToLower(k)] = v
	}
	if r.target == "!" {
		r.exclude = true
	} else {
		u, err := url.Parse(r.target)
		scheme := ""
		if err == nil {
			scheme = strings.ToLower(u.Scheme)
		}
		if scheme != "ajp" && scheme != "balancer" {
			c.w.notTranslated(d, "only ajp:// and balancer:// targets are translated; proxy %s with a plain reverse_proxy route", r.target)
			return nil
		}
	}
	if loc != "" {
		s.locRules = append(s.locRules, r)
	} else {
		s.rules = append(s.rules, r)
	}
	return nil
}

// proxyReverse records ProxyPassReverse and its cookie variants; the
// builder joins them to the ProxyPass they reverse.
func (c *config) proxyReverse(s *server, d *directive, loc string) error {
	args := d.args
	rv := &reverse{at: d}
	switch {
	case d.is("ProxyPassReverse") && loc != "" && len(args) == 1:
		rv.from, rv.to = loc, args[0]
	case len(args) >= 2 && (d.is("ProxyPassReverse") || len(args) == 2 || len(args) == 3 && strings.EqualFold(args[2], "interpolate")):
		rv.from, rv.to = args[0], args[1]
		if !d.is("ProxyPassReverse") {
			// the cookie directives name the backend's value first
			rv.from, rv.to = args[1], args[0]
		}
	default:
		return errAt(d, "%s: want %s", d.name, map[bool]string{true: "a path and a URL", false: "the backend's value and the client's"}[d.is("ProxyPassReverse")])
	}
	switch {
	case d.is("ProxyPassReverse"):
		s.reverses = append(s.reverses, rv)
	case d.is("ProxyPassReverseCookiePath"):
		s.cookiePaths = append(s.cookiePaths, rv)
	default:
		s.cookieDomain = append(s.cookieDomain, rv)
	}
	return nil
}

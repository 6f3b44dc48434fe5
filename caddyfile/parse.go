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
	cf "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/caddy-ajp/caddy-ajp/balancer"
	"github.com/caddy-ajp/caddy-ajp/internal/apachewords"
	"github.com/caddy-ajp/caddy-ajp/stickyroute"
)

// balancerConfig is what the directive's words say, before any module is
// built from it.
type balancerConfig struct {
	file       string
	line       int    // the directive's
	matcherTok string // the matcher token as written
	members    []member
	// the line of each balancer word given, by word
	lines         map[string]int
	cookie, param string
	separator     string
	nofailover    bool
	lbmethod      string
	maxattempts   *int
	failonstatus  []int
	timeout       *time.Duration
	secret        string
	packetSize    int
	name          string // the balancer's name, as given ("" for none)
	reverse       bool
	// rest is the directive's segment without our words: the reverse_proxy
	// subdirectives that pass through
	rest *cf.Dispenser
}

// member is one BalancerMember.
type member struct {
	addr   string // host:port
	http   string // host:port of the node's HTTP connector, for upgrades (http=)
	path   string // the backend path, e.g. /share
	route  stickyroute.Route
	line   int
	params map[string]string // transport-wide parameters, to check they agree
}

// parseBalancer reads the directive's words into a balancerConfig and
// returns the matcher set it was given.
func parseBalancer(h httpcaddyfile.Helper) (*balancerConfig, caddy.ModuleMap, error) {
	if !h.Next() {
		return nil, nil, h.ArgErr()
	}
	b := &balancerConfig{reverse: true, file: h.File(), line: h.Line(), lines: map[string]int{}}
	if h.NextArg() {
		b.matcherTok = h.Val()
		h.Prev()
	}
	matcherSet, err := h.ExtractMatcherSet()
	if err != nil {
		return nil, nil, err
	}
	d := h.NewFromNextSegment()
	for d.Next() {
		if d.NextArg() {
			return nil, nil, d.Errf("ajp_balancer: unexpected argument %q: it takes one path matcher, and its members in its block (member ajp://host:port/path route=…)", d.Val())
		}
		for d.NextBlock(0) {
			if d.Nesting() != 1 {
				continue // inside a reverse_proxy subdirective's block
			}
			word, args := d.Val(), d.RemainingArgs()
			ours, err := b.word(d, word, args)
			if err != nil {
				return nil, nil, err
			}
			if ours {
				b.lines[word] = d.Line()
				d.DeleteN(len(args) + 1)
			}
		}
	}
	// rewind to just before the directive name, which reverse_proxy's
	// UnmarshalCaddyfile consumes itself (the segment may start with an
	// empty token left by the matcher extraction)
	d.Reset()
	for d.Next() && d.Val() != "ajp_balancer" {
	}
	d.Prev()
	b.rest = d
	return b, matcherSet, nil
}

// word reads one of the directive's own words; ours is false for a
// reverse_proxy subdirective, left for reverse_proxy to read.
func (b *balancerConfig) word(d *cf.Dispenser, word string, args []string) (ours bool, err error) {
	switch word {
	case "member":
		return true, b.addMember(d, args)
	case "stickysession", "stickysessionsep", "nofailover":
		return true, b.stickyWord(d, word, args)
	case "lbmethod", "maxattempts", "failonstatus", "timeout":
		return true, b.lbWord(d, word, args)
	case "secret", "packet_size", "proxypassreverse":
		return true, b.transportWord(d, word, args)
	case "name":
		if len(args) != 1 {
			return true, d.Errf("name takes one value, the balancer's name (Apache's balancer://NAME)")
		}
		if err := balancer.CheckName(args[0]); err != nil {
			return true, d.WrapErr(err)
		}
		b.name = args[0]
		return true, nil
	case "transport", "lb_policy", "to", "dynamic":
		return true, d.Errf("%s is set by ajp_balancer itself (members, stickysession, lbmethod); for anything else use a plain reverse_proxy", word)
	}
	return false, nil
}

func (b *balancerConfig) addMember(d *cf.Dispenser, args []string) error {
	m, err := parseMember(d, args)
	if err != nil {
		return err
	}
	for _, prev := range b.members {
		if strings.EqualFold(prev.addr, m.addr) {
			return d.Errf("member %s is already given on line %d", m.addr, prev.line)
		}
	}
	b.members = append(b.members, m)
	return nil
}

func (b *balancerConfig) stickyWord(d *cf.Dispenser, word string, args []string) error {
	switch word {
	case "stickysession":
		if len(args) != 1 {
			return d.Errf("stickysession takes one value, COOKIE or COOKIE|pathparam (as Apache's stickysession=JSESSIONID|jsessionid)")
		}
		cookie, param, ok := strings.Cut(args[0], "|")
		if !ok {
			param = cookie
		}
		if cookie == "" || param == "" {
			return d.Errf("stickysession %q: empty cookie or path parameter name", args[0])
		}
		b.cookie, b.param = cookie, param
	case "stickysessionsep":
		if len(args) != 1 || args[0] == "" {
			return d.ArgErr()
		}
		b.separator = args[0]
	case "nofailover":
		switch {
		case len(args) == 0 || len(args) == 1 && strings.EqualFold(args[0], "on"):
			b.nofailover = true
		case len(args) == 1 && strings.EqualFold(args[0], "off"):
			b.nofailover = false
		default:
			return d.Errf("nofailover takes on or off, not %q", strings.Join(args, " "))
		}
	}
	return nil
}

func (b *balancerConfig) lbWord(d *cf.Dispenser, word string, args []string) error {
	if len(args) != 1 && word != "failonstatus" || len(args) == 0 {
		return d.ArgErr()
	}
	switch word {
	case "lbmethod":
		switch args[0] {
		case "byrequests", "bybusyness", "bytraffic":
			b.lbmethod = args[0]
		default:
			return d.Errf("lbmethod %q is not supported: use byrequests, bybusyness or bytraffic", args[0])
		}
	case "maxattempts":
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 {
			return d.Errf("maxattempts: %q is not a number of retries", args[0])
		}
		b.maxattempts = &n
	case "failonstatus":
		for _, a := range strings.Split(strings.Join(args, ","), ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			code, err := strconv.Atoi(a)
			if err != nil || code < 100 || code > 599 {
				return d.Errf("failonstatus: %q is not an HTTP status code", a)
			}
			b.failonstatus = append(b.failonstatus, code)
		}
	case "timeout":
		dur, err := apachewords.Duration(args[0])
		if err != nil || dur < 0 {
			return d.Errf("timeout: %q is not a duration (seconds, 500ms, 1m)", args[0])
		}
		b.timeout = &dur
	}
	return nil
}

func (b *balancerConfig) transportWord(d *cf.Dispenser, word string, args []string) error {
	switch word {
	case "secret":
		if len(args) != 1 {
			return d.ArgErr()
		}
		b.secret = args[0]
	case "packet_size":
		if len(args) != 1 {
			return d.ArgErr()
		}
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return d.Errf("packet_size: %q is not a number", args[0])
		}
		b.packetSize = n
	case "proxypassreverse":
		if len(args) != 1 || (!strings.EqualFold(args[0], "on") && !strings.EqualFold(args[0], "off")) {
			return d.Errf("proxypassreverse takes on or off, not %q", strings.Join(args, " "))
		}
		b.reverse = strings.EqualFold(args[0], "on")
	}
	return nil
}

// memberParams are the member parameters ajp_balancer knows.
const memberParams = "route, loadfactor, status, redirect, http, secret, ping, timeout, connectiontimeout, ttl, max, retry, " +
	"hcmethod, hcinterval, hcuri, hcpasses, hcfails"

// parseMember reads `member ajp://host:port/path key=value…`.
func parseMember(d *cf.Dispenser, args []string) (member, error) {
	m := member{line: d.Line(), params: map[string]string{}}
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
	m.addr = u.Host
	if u.Port() == "" {
		m.addr = net.JoinHostPort(u.Hostname(), "8009") // AJP's port
	}
	m.path = strings.TrimRight(u.EscapedPath(), "/")
	m.route.Upstream = m.addr
	for _, kv := range args[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return m, d.Errf("member parameter %q: want key=value", kv)
		}
		switch k = strings.ToLower(k); k {
		case "route":
			m.route.Name = v
		case "loadfactor":
			n, err := strconv.Atoi(v)
			if err != nil {
				return m, d.Errf("loadfactor %q: want a number from %d to %d", v, stickyroute.MinWeight, stickyroute.MaxWeight)
			}
			m.route.Weight = &n
		case "status":
			if m.route.Status, err = apachewords.MemberStatus(v, true); err != nil {
				return m, d.WrapErr(err)
			}
		case "redirect":
			m.route.Redirect = v
		case "http":
			if m.http, err = httpConnector(v); err != nil {
				return m, d.Errf("http=%s: %v", v, err)
			}
		case "secret", "ping", "timeout", "connectiontimeout", "ttl", "max", "retry",
			"hcmethod", "hcinterval", "hcuri", "hcpasses", "hcfails":
			m.params[k] = v
		default:
			return m, d.Errf("member parameter %q is not supported by ajp_balancer (supported: %s)", k, memberParams)
		}
	}
	return m, nil
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

// httpConnector reads http=host:port (or http://host:port), the member's
// HTTP connector.
func httpConnector(v string) (string, error) {
	v = strings.TrimPrefix(v, "http://")
	host, port, err := net.SplitHostPort(strings.TrimRight(v, "/"))
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("want the host:port of the node's HTTP connector, e.g. http=10.0.0.1:8080")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("port %q is not a number", port)
	}
	return net.JoinHostPort(host, port), nil
}

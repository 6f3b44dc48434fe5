package caddyfile

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterDirective("ajp_balancer", parseAJPBalancer)
	// works without a global `order` option: where reverse_proxy goes
	httpcaddyfile.RegisterDirectiveOrder("ajp_balancer", httpcaddyfile.Before, "reverse_proxy")
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
	b, matcherSet, err := parseBalancer(h)
	if err != nil {
		return nil, err
	}
	if err := b.checkMembers(); err != nil {
		return nil, err
	}
	handlers, err := b.build(h, matcherSet)
	if err != nil {
		return nil, err
	}
	route := caddyhttp.Route{HandlersRaw: handlers}
	if matcherSet != nil {
		route.MatcherSetsRaw = []caddy.ModuleMap{matcherSet}
	}
	return []httpcaddyfile.ConfigValue{{Class: "route", Value: route}}, nil
}

// errAt is a parse error at a given place, in the form Caddy's own
// Caddyfile errors take.
func errAt(file string, line int, format string, args ...any) error {
	return fmt.Errorf("%w, at %s:%d", fmt.Errorf(format, args...), file, line)
}

package stickyroute

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	lb_policy sticky_route {
//	    name <balancer name>
//	    route <name> <upstream> [{
//	        status drain|disabled|stopped|standby
//	        redirect <route>
//	        weight <n>
//	    }]
//	    cookie <name>
//	    path_param <name>
//	    separator <text>
//	    nofailover
//	    fallback <policy> [{ … }]
//	}
//
// It reads the syntax only (argument counts, numbers); the values are
// checked by CheckConfig, as they are for JSON, and a refusal names the
// line that set the value.
func (s *StickyRoute) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume policy name
	start := d.Line()
	if d.NextArg() {
		return d.ArgErr()
	}
	var lines []map[string]int // by route index: where each field was set
	fallbackLine, nameLine := 0, 0
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "name":
			if !d.NextArg() {
				return d.ArgErr()
			}
			s.Name, nameLine = d.Val(), d.Line()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "route":
			rt, at, err := parseRoute(d)
			if err != nil {
				return err
			}
			s.Routes = append(s.Routes, rt)
			lines = append(lines, at)
		case "cookie", "path_param", "separator":
			if !d.NextArg() {
				return d.ArgErr()
			}
			switch opt {
			case "cookie":
				s.Cookies = append(s.Cookies, d.Val())
			case "path_param":
				s.PathParams = append(s.PathParams, d.Val())
			case "separator":
				s.Separator = d.Val()
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "nofailover":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.NoFailover = true
		case "fallback":
			if s.FallbackRaw != nil {
				return d.Err("fallback selection policy already specified")
			}
			fallbackLine = d.Line()
			if err := s.parseFallback(d); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized sticky_route option %q", opt)
		}
	}
	if err := s.CheckConfig(); err != nil {
		line := start
		var ce *ConfigError
		switch {
		case errors.As(err, &ce) && ce.Field == "name" && nameLine != 0:
			line = nameLine
		case ce == nil || ce.Route < 0:
		case ce.Field == "fallback":
			err = fmt.Errorf("%w (weight on line %d)", err, lines[ce.Route]["weight"])
			line = fallbackLine
		default:
			line = lines[ce.Route][ce.Field]
		}
		return fmt.Errorf("%w, at %s:%d", err, d.File(), line)
	}
	return nil
}

// parseRoute reads `route <name> <upstream> [{ … }]`, and where each of
// its fields was set ("" for the route line).
func parseRoute(d *caddyfile.Dispenser) (Route, map[string]int, error) {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return Route{}, nil, d.Errf("route needs a name and an upstream address: route tomcat1 127.0.0.1:8010")
	}
	rt := Route{Name: args[0], Upstream: args[1]}
	at := map[string]int{"": d.Line(), "name": d.Line(), "upstream": d.Line()}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		at[sub] = d.Line()
		if !d.NextArg() {
			return rt, nil, d.ArgErr()
		}
		switch sub {
		case "status":
			rt.Status = d.Val()
			if rt.Status == statusActiveWord {
				rt.Status = StatusActive // as it was always adapted
			}
		case "redirect":
			rt.Redirect = d.Val()
		case "weight":
			n, err := strconv.Atoi(d.Val())
			if err != nil {
				return rt, nil, d.Errf("route %s: weight %q is not a number", rt.Name, d.Val())
			}
			rt.Weight = &n
		default:
			return rt, nil, d.Errf("route %s: unrecognized option %q", rt.Name, sub)
		}
		if d.NextArg() {
			return rt, nil, d.ArgErr()
		}
	}
	return rt, at, nil
}

// parseFallback reads `fallback <policy> [{ … }]` with the policy's own
// unmarshaler.
func (s *StickyRoute) parseFallback(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	modID := "http.reverse_proxy.selection_policies." + name
	unm, err := caddyfile.UnmarshalModule(d, modID)
	if err != nil {
		return err
	}
	sel, ok := unm.(reverseproxy.Selector)
	if !ok {
		return d.Errf("module %s is not a selection policy", modID)
	}
	s.FallbackRaw = caddyconfig.JSONModuleObject(sel, "policy", name, nil)
	return nil
}

var _ caddyfile.Unmarshaler = (*StickyRoute)(nil)

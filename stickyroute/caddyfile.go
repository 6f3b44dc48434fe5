package stickyroute

import (
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	lb_policy sticky_route {
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
func (s *StickyRoute) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()                         // consume policy name
	redirectLine := map[string]int{} // by route name, for errors found at the end
	weightLine, fallbackLine := 0, 0
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch opt := d.Val(); opt {
		case "route":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("route needs a name and an upstream address: route tomcat1 127.0.0.1:8010")
			}
			rt := Route{Name: args[0], Upstream: args[1]}
			for nesting := d.Nesting(); d.NextBlock(nesting); {
				switch sub := d.Val(); sub {
				case "status":
					if !d.NextArg() {
						return d.ArgErr()
					}
					switch st := d.Val(); st {
					case StatusDrain, StatusDisabled, StatusStopped, StatusStandby, "active":
						if st != "active" {
							rt.Status = st
						}
					default:
						return d.Errf("route %s: unknown status %q (want drain, disabled, stopped, standby or active)", rt.Name, st)
					}
				case "redirect":
					if !d.NextArg() {
						return d.ArgErr()
					}
					rt.Redirect = d.Val()
					redirectLine[rt.Name] = d.Line()
				case "weight":
					if !d.NextArg() {
						return d.ArgErr()
					}
					n, err := strconv.Atoi(d.Val())
					if err != nil || n < 1 {
						return d.Errf("route %s: weight must be a positive integer, got %q", rt.Name, d.Val())
					}
					rt.Weight = n
					if weightLine == 0 {
						weightLine = d.Line()
					}
				default:
					return d.Errf("route %s: unrecognized option %q", rt.Name, sub)
				}
				if d.NextArg() {
					return d.ArgErr()
				}
			}
			for _, prev := range s.Routes {
				if prev.Name == rt.Name {
					return d.Errf("route %s is given twice", rt.Name)
				}
				if normAddr(prev.Upstream) == normAddr(rt.Upstream) {
					return d.Errf("routes %s and %s name the same upstream %s", prev.Name, rt.Name, rt.Upstream)
				}
			}
			s.Routes = append(s.Routes, rt)
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
			if !d.NextArg() {
				return d.ArgErr()
			}
			if s.FallbackRaw != nil {
				return d.Err("fallback selection policy already specified")
			}
			name := d.Val()
			fallbackLine = d.Line()
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
		default:
			return d.Errf("unrecognized sticky_route option %q", opt)
		}
	}
	names := map[string]bool{}
	weighted := false
	for _, rt := range s.Routes {
		names[rt.Name] = true
		weighted = weighted || rt.Weight > 0
	}
	for _, rt := range s.Routes {
		if rt.Redirect != "" && !names[rt.Redirect] {
			return fmt.Errorf("route %s redirects to unknown route %q, at %s:%d", rt.Name, rt.Redirect, d.File(), redirectLine[rt.Name])
		}
	}
	if weighted && s.FallbackRaw != nil {
		return fmt.Errorf("route weights (line %d) and a fallback policy (line %d) exclude each other: weights already choose among the upstreams, at %s:%d",
			weightLine, fallbackLine, d.File(), fallbackLine)
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*StickyRoute)(nil)

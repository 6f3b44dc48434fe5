package stickyroute

import (
	"fmt"

	"github.com/caddy-ajp/caddy-ajp/balancer"
)

// Weights are Apache's loadfactor range.
const (
	MinWeight = 1
	MaxWeight = 100
)

// ConfigError is a configuration value the policy refuses. Route is the
// index of the route at fault (-1 for none) and Field the JSON name of the
// value ("status", "weight", "fallback", …): a Caddyfile parser uses them
// to point at the line that set it.
type ConfigError struct {
	Route int
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return e.Msg }

func refuse(route int, field, format string, args ...any) error {
	return &ConfigError{Route: route, Field: field, Msg: "sticky_route: " + fmt.Sprintf(format, args...)}
}

// CheckConfig reports the first value of the configuration that the
// policy refuses, as a *ConfigError. It is the one place the policy's
// rules live: Provision calls it before setting defaults, and the
// Caddyfile parsers (`lb_policy sticky_route`, `ajp_balancer`) call it on
// what they parsed, so that JSON and Caddyfile accept exactly the same
// values. Whether the routes name the proxy's upstreams can only be told
// at Provision.
//
// It is not named Validate: Caddy would call a caddy.Validator after
// Provision, on the defaulted values.
func (s *StickyRoute) CheckConfig() error {
	if s.Name != "" {
		if err := balancer.CheckName(s.Name); err != nil {
			return refuse(-1, "name", "%v", err)
		}
	}
	if s.Follow && s.Name == "" {
		return refuse(-1, "name", "follow needs the name of the balancer to follow")
	}
	byName := make(map[string]int, len(s.Routes))
	byAddr := make(map[string]int, len(s.Routes))
	weighted := -1
	for i, rt := range s.Routes {
		if rt.Upstream == "" {
			return refuse(i, "upstream", "route %q needs an upstream address", rt.Name)
		}
		switch rt.Status {
		case StatusActive, statusActiveWord, StatusDrain, StatusDisabled, StatusStopped, StatusStandby:
		default:
			return refuse(i, "status", "route %s: unknown status %q (want active, drain, disabled, stopped or standby)", rt.Name, rt.Status)
		}
		if rt.Weight != nil {
			if *rt.Weight < MinWeight || *rt.Weight > MaxWeight {
				return refuse(i, "weight", "route %s: weight %d out of range %d–%d (Apache's loadfactor)", rt.Name, *rt.Weight, MinWeight, MaxWeight)
			}
			if weighted < 0 {
				weighted = i
			}
		}
		if j, ok := byName[rt.Name]; ok && rt.Name != "" {
			return refuse(i, "name", "route %s is given twice (%s and %s)", rt.Name, s.Routes[j].Upstream, rt.Upstream)
		}
		if j, ok := byAddr[normAddr(rt.Upstream)]; ok {
			return refuse(i, "upstream", "routes %s and %s name the same upstream %s", s.Routes[j].Name, rt.Name, rt.Upstream)
		}
		if rt.Name != "" { // a nameless route only carries a status or weight
			byName[rt.Name] = i
		}
		byAddr[normAddr(rt.Upstream)] = i
	}
	for i, rt := range s.Routes {
		if _, ok := byName[rt.Redirect]; rt.Redirect != "" && !ok {
			return refuse(i, "redirect", "route %s redirects to unknown route %s", rt.Name, rt.Redirect)
		}
	}
	if weighted >= 0 && s.FallbackRaw != nil {
		return refuse(weighted, "fallback", "route weights (route %s) and a fallback policy exclude each other: weights already choose among the upstreams",
			s.Routes[weighted].Name)
	}
	return nil
}

package caddyfile

import (
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/caddy-ajp/caddy-ajp/ajptransport"
	"github.com/caddy-ajp/caddy-ajp/internal/apachewords"
)

// activeHealth sets the active health check: CPING by default; Apache's
// hcmethod/hcuri/hcinterval/hcpasses/hcfails member words; or what the
// user's health_* subdirectives say.
func (b *balancerConfig) activeHealth(rp *reverseproxy.Handler, tr ajptransport.Transport) error {
	a := rp.HealthChecks.Active
	userSet := a != nil && (a.URI != "" || a.Path != "" || a.Port != 0 || a.Method != "")
	if a == nil {
		a = &reverseproxy.ActiveHealthChecks{}
		rp.HealthChecks.Active = a
	}
	m := b.members[0]
	if v, ok := m.params["hcmethod"]; ok {
		switch up := strings.ToUpper(v); up {
		case "NONE": // Apache's "no health check"
			rp.HealthChecks.Active = nil
			return nil
		case ajptransport.MethodCPing, "GET", "HEAD", "OPTIONS":
			a.Method = up
		default:
			return errAt(b.file, m.line, "hcmethod=%s: ajp_balancer checks with CPING (the default), GET, HEAD or OPTIONS, or NONE", v)
		}
		userSet = true
	}
	if v, ok := m.params["hcuri"]; ok {
		a.URI = v
		userSet = true
	}
	if v, ok := m.params["hcinterval"]; ok {
		d, err := apachewords.Duration(v)
		if err != nil || d <= 0 {
			return errAt(b.file, m.line, "hcinterval=%s: want a positive duration (seconds, 500ms)", v)
		}
		a.Interval = caddy.Duration(d)
	}
	for word, dst := range map[string]*int{"hcpasses": &a.Passes, "hcfails": &a.Fails} {
		if v, ok := m.params[word]; ok {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return errAt(b.file, m.line, "%s=%s: want a number of checks, 1 or more", word, v)
			}
			*dst = n
		}
	}
	if !userSet {
		a.Method = ajptransport.MethodCPing
	}
	switch {
	case a.Method == ajptransport.MethodCPing:
		if a.URI == "" && a.Path == "" && a.Port == 0 {
			a.URI = "/" // unused by CPING; Caddy's checker runs only with one
		}
		if a.Timeout == 0 {
			// the transport's ping_timeout decides; Caddy's bound is a backstop
			a.Timeout = caddy.Duration(time.Duration(tr.PingTimeout) + time.Second)
		}
	case a.URI == "" && a.Path == "" && a.Port == 0:
		return errAt(b.file, m.line, "hcmethod=%s needs hcuri= (the page to request), or use hcmethod=CPING", a.Method)
	}
	if a.Method != ajptransport.MethodCPing {
		return nil // the user's own HTTP check over AJP: Caddy's defaults
	}
	if a.Interval == 0 {
		a.Interval = caddy.Duration(apachewords.HealthInterval)
	}
	if a.Passes == 0 {
		a.Passes = apachewords.HealthPasses
	}
	if a.Fails == 0 {
		a.Fails = apachewords.HealthFails
	}
	return nil
}

// Package apachewords is what Apache's balancer words and ajp_balancer's
// defaults mean in Caddy's terms, for the two places that read them: the
// ajp_balancer directive (package caddyfile) and the Apache config adapter
// (package apacheconf). One place, so the two cannot drift; parity tests in
// both packages check that they build the same handlers.
package apachewords

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-ajp/caddy-ajp/stickyroute"
)

// Defaults of a balancer, so that failover works out of the box (README:
// "Failover out of the box").
//
// The active health check is a CPING to each member every HealthInterval,
// out after HealthFails CPONG not back within PingTimeout, back after
// HealthPasses CPONG. A node is judged hung only when it also sent nothing
// to anyone while the CPONG was due (the transport tells busy from hung),
// so one failure is enough. Measured on real Tomcat
// (tools/integration/health_test.go): a SIGSTOPped node is out within 3 s,
// a 2 s pause (a long GC) ejects nothing, a node comes back within half a
// second of its first CPONG. With a 1 s interval and a 2 s ping_timeout, a
// CPING sent just before a 2 s pause timed out as the node resumed: 2
// ejections in 15 pauses.
const (
	HealthInterval = 500 * time.Millisecond
	PingTimeout    = 2500 * time.Millisecond
	HealthPasses   = 1
	HealthFails    = 1
	// FailDuration is how long a member that failed a request (passive
	// health) stays out.
	FailDuration = 5 * time.Second
	// TryMargin is added to the transport's read timeout to make
	// lb_try_duration: a request stuck on a hung node until the read
	// timeout is still retried on another.
	TryMargin = 5 * time.Second
)

// Duration reads Apache's time values: seconds, or milliseconds with an
// "ms" suffix; Caddy durations ("1m30s") are accepted too. Syntax only:
// whether a value may be negative is for whoever uses it.
func Duration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (seconds, 500ms, 1m)", v)
	}
	return dur, nil
}

// MemberStatus maps httpd's member status flags to sticky_route statuses:
// D disabled, S stopped, H hot standby, N drain; "-X" clears a flag.
//
// Strict is ajp_balancer's syntax: one flag ("+D", "D" or "-D"). Otherwise
// it is httpd's: several flags, the last one winning, and I, R, E and C
// (ignore-errors, spare, in-error, health-check-failed: state httpd keeps
// itself) passed over, as an adapted httpd configuration has them.
func MemberStatus(v string, strict bool) (string, error) {
	st := stickyroute.StatusActive
	flags := 0
	for i := 0; i < len(v); i++ {
		set := true
		switch v[i] {
		case '+':
			continue
		case '-':
			set = false
			i++
			if i == len(v) {
				return "", fmt.Errorf("status=%s: a flag must follow -", v)
			}
		}
		flags++
		var s string
		switch v[i] | 0x20 {
		case 'd':
			s = stickyroute.StatusDisabled
		case 's':
			s = stickyroute.StatusStopped
		case 'h':
			s = stickyroute.StatusStandby
		case 'n':
			s = stickyroute.StatusDrain
		case 'i', 'r', 'e', 'c':
			if !strict {
				continue
			}
			return "", errStatus(v)
		default:
			if strict {
				return "", errStatus(v)
			}
			return "", fmt.Errorf("status=%s: flag %q is not supported: use +D (disabled), +S (stopped), +H (hot standby) or +N (drain)", v, v[i])
		}
		if set {
			st = s
		} else if st == s {
			st = stickyroute.StatusActive
		}
	}
	if strict && flags != 1 {
		return "", errStatus(v)
	}
	return st, nil
}

func errStatus(v string) error {
	return fmt.Errorf("status %q is not supported: use +D (disabled), +S (stopped), +H (hot standby) or +N (drain)", v)
}

package apachewords

import (
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/stickyroute"
)

func TestMemberStatus(t *testing.T) {
	const (
		active   = stickyroute.StatusActive
		disabled = stickyroute.StatusDisabled
		stopped  = stickyroute.StatusStopped
		standby  = stickyroute.StatusStandby
		drain    = stickyroute.StatusDrain
		fail     = "(an error)"
	)
	cases := []struct {
		v            string
		strict, http string // fail for an error
	}{
		{"+D", disabled, disabled},
		{"D", disabled, disabled},
		{"d", disabled, disabled},
		{"+S", stopped, stopped},
		{"+H", standby, standby},
		{"N", drain, drain},
		{"-D", active, active},
		{"+D+H", fail, standby}, // httpd: the last flag wins; ajp_balancer takes one
		{"+D-D", fail, active},
		{"DS", fail, stopped},
		{"+I", fail, active}, // state httpd keeps itself: passed over when adapting
		{"+H+E", fail, standby},
		{"", fail, active},
		{"-", fail, fail},
		{"+X", fail, fail},
	}
	for _, c := range cases {
		for _, strict := range []bool{true, false} {
			want := c.http
			if strict {
				want = c.strict
			}
			got, err := MemberStatus(c.v, strict)
			if want == fail && err == nil {
				t.Errorf("MemberStatus(%q, strict=%v) = %q, want an error", c.v, strict, got)
			}
			if want != fail && (err != nil || got != want) {
				t.Errorf("MemberStatus(%q, strict=%v) = %q, %v; want %q", c.v, strict, got, err, want)
			}
		}
	}
}

func TestDuration(t *testing.T) {
	for v, want := range map[string]time.Duration{"5": 5 * time.Second, "0": 0, "500ms": 500 * time.Millisecond, "1m30s": 90 * time.Second, "-1": -time.Second} {
		if got, err := Duration(v); err != nil || got != want {
			t.Errorf("Duration(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"", "x", "5 s"} {
		if _, err := Duration(v); err == nil {
			t.Errorf("Duration(%q): want an error", v)
		}
	}
}

package stickyroute

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestFailoverIsLoggedWithoutTheSessionID: every failover is logged at
// INFO with the route it left, the one it took and why; a session whose
// route no member has at DEBUG; the session id and cookies never.
func TestFailoverIsLoggedWithoutTheSessionID(t *testing.T) {
	const sessionID = "5ACD0C8F00D"
	cases := []struct {
		name    string
		routes  func([]Route)
		setup   func(*cluster, *StickyRoute)
		tried   bool // the session's node was already tried for this request
		nofail  bool
		cookie  string
		level   zapcore.Level
		from    string
		to      string // "" when no upstream may be chosen
		why     string
		message string
	}{
		{name: "unhealthy", setup: func(c *cluster, s *StickyRoute) {
			c.down["127.0.0.1:8011"] = true
			s.healthy = func(u *reverseproxy.Upstream) bool { return !c.down[u.Dial] }
		}, level: zap.InfoLevel, from: "tomcat2", why: whyUnhealthy, message: "sticky session failover"},
		{name: "unavailable (full)", setup: func(c *cluster, s *StickyRoute) { c.down["127.0.0.1:8011"] = true },
			level: zap.InfoLevel, from: "tomcat2", why: whyUnavailable, message: "sticky session failover"},
		{name: "stopped", routes: func(rs []Route) { rs[1].Status = StatusStopped },
			level: zap.InfoLevel, from: "tomcat2", why: whyStopped, message: "sticky session failover"},
		{name: "tried and failed", tried: true,
			level: zap.InfoLevel, from: "tomcat2", why: whyTried, message: "sticky session failover"},
		{name: "redirect", routes: func(rs []Route) { rs[1].Redirect = "tomcat3" }, setup: func(c *cluster, s *StickyRoute) { c.down["127.0.0.1:8011"] = true },
			level: zap.InfoLevel, from: "tomcat2", to: "tomcat3", why: whyUnavailable, message: "sticky session failover"},
		{name: "nofailover", nofail: true, setup: func(c *cluster, s *StickyRoute) { c.down["127.0.0.1:8011"] = true },
			level: zap.InfoLevel, from: "tomcat2", why: whyUnavailable, message: "session's route cannot take the request; nofailover: none chosen"},
		{name: "unknown route", cookie: "JSESSIONID=" + sessionID + ".tomcat9",
			level: zap.DebugLevel, message: "session route matches no route"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster()
			rs := routes()
			if tc.routes != nil {
				tc.routes(rs)
			}
			s := provision(t, &StickyRoute{Routes: rs, NoFailover: tc.nofail}, c)
			core, logs := observer.New(zap.DebugLevel)
			s.logger = zap.New(core)
			if tc.setup != nil {
				tc.setup(c, s)
			}
			cookie := tc.cookie
			if cookie == "" {
				cookie = "JSESSIONID=" + sessionID + ".tomcat2"
			}
			r := request("/share/", cookie)
			if tc.tried {
				if u := s.Select(c.pool, r, nil); u.Dial != "127.0.0.1:8011" {
					t.Fatalf("first try went to %s", u.Dial)
				}
				if logs.Len() != 0 {
					t.Fatalf("a request that stays on its route logged %v", logs.All())
				}
			}
			chosen := s.Select(c.pool, r, nil)

			all := logs.All()
			if len(all) != 1 {
				t.Fatalf("want one log entry, got %d: %v", len(all), all)
			}
			e := all[0]
			if e.Level != tc.level || e.Message != tc.message {
				t.Errorf("logged %s %q, want %s %q", e.Level, e.Message, tc.level, tc.message)
			}
			fields := e.ContextMap()
			for k, v := range fields {
				if s, _ := v.(string); strings.Contains(s, sessionID) || strings.Contains(strings.ToLower(k), "cookie") {
					t.Errorf("field %s=%v gives away the session", k, v)
				}
			}
			if tc.level == zap.DebugLevel {
				if fields["route"] != "tomcat9" {
					t.Errorf("fields %v, want route=tomcat9", fields)
				}
				return
			}
			if fields["from_route"] != tc.from || fields["why"] != tc.why {
				t.Errorf("fields %v, want from_route=%s why=%q", fields, tc.from, tc.why)
			}
			if tc.nofail {
				if chosen != nil {
					t.Errorf("nofailover chose %s", chosen.Dial)
				}
				return
			}
			if chosen == nil {
				t.Fatal("no upstream chosen")
			}
			if fields["to_upstream"] != chosen.Dial || fields["to_route"] != s.byAddr[normAddr(chosen.Dial)].Name {
				t.Errorf("fields %v, but chose %s", fields, chosen.Dial)
			}
			if tc.to != "" && fields["to_route"] != tc.to {
				t.Errorf("to_route %v, want %s", fields["to_route"], tc.to)
			}
		})
	}
}

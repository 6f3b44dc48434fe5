package stickyroute

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// cluster is three upstreams; down marks which are unavailable.
type cluster struct {
	pool reverseproxy.UpstreamPool
	down map[string]bool
}

func newCluster() *cluster {
	c := &cluster{down: map[string]bool{}}
	for _, a := range []string{"127.0.0.1:8010", "127.0.0.1:8011", "127.0.0.1:8012"} {
		c.pool = append(c.pool, &reverseproxy.Upstream{Host: new(reverseproxy.Host), Dial: a})
	}
	return c
}

func provision(t *testing.T, s *StickyRoute, c *cluster) *StickyRoute {
	t.Helper()
	s.available = func(u *reverseproxy.Upstream) bool { return !c.down[u.Dial] }
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := s.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	return s
}

func routes() []Route {
	return []Route{
		{Name: "tomcat1", Upstream: "127.0.0.1:8010"},
		{Name: "tomcat2", Upstream: "127.0.0.1:8011"},
		{Name: "tomcat3", Upstream: "127.0.0.1:8012"},
	}
}

// request builds a request with a fresh replacer and vars, as Caddy's
// server would.
func request(target string, cookies ...string) *http.Request {
	r := httptest.NewRequest("GET", target, nil)
	for _, c := range cookies {
		r.Header.Add("Cookie", c)
	}
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{})
	return r.WithContext(ctx)
}

func placeholder(r *http.Request, name string) string {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	v, _ := repl.GetString(name)
	return v
}

func TestSessionRouteParsing(t *testing.T) {
	c := newCluster()
	s := provision(t, &StickyRoute{Routes: routes()}, c)
	cases := []struct {
		name, target string
		cookies      []string
		want         string // dial address, "" = fallback decides
		route        string
	}{
		{"cookie", "/share/", []string{"JSESSIONID=5ACD0C8.tomcat2"}, "127.0.0.1:8011", "tomcat2"},
		{"quoted cookie", "/share/", []string{`JSESSIONID="5ACD0C8.tomcat3"`}, "127.0.0.1:8012", "tomcat3"},
		{"among other cookies", "/share/", []string{"a=1; JSESSIONID=X.tomcat2; b=2"}, "127.0.0.1:8011", "tomcat2"},
		{"path parameter first", "/share/x;jsessionid=Y.tomcat3", []string{"JSESSIONID=X.tomcat2"}, "127.0.0.1:8012", "tomcat3"},
		{"path parameter mid-path", "/share/x;jsessionid=Y.tomcat1/y?z=1", nil, "127.0.0.1:8010", "tomcat1"},
		{"same-name cookies: first known route", "/share/", []string{"JSESSIONID=A.gone; JSESSIONID=B.tomcat2"}, "127.0.0.1:8011", "tomcat2"},
		{"same-name cookie headers", "/share/", []string{"JSESSIONID=A.nope", "JSESSIONID=B.tomcat3"}, "127.0.0.1:8012", "tomcat3"},
		{"route after the first separator", "/share/", []string{"JSESSIONID=A.tomcat2.extra"}, "", "tomcat2.extra"},
		{"unknown route", "/share/", []string{"JSESSIONID=A.tomcat9"}, "", "tomcat9"},
		{"no route", "/share/", []string{"JSESSIONID=ABCDEF"}, "", ""},
		{"empty route", "/share/", []string{"JSESSIONID=ABCDEF."}, "", ""},
		{"other cookie name", "/share/", []string{"SESSION=A.tomcat2"}, "", ""},
		{"cookie name is case-sensitive", "/share/", []string{"jsessionid=A.tomcat2"}, "", ""},
		{"malformed cookie", "/share/", []string{"JSESSIONID; =; ==.tomcat2"}, "", ""},
		{"no session", "/share/", nil, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := request(tc.target, tc.cookies...)
			u := s.Select(c.pool, r, nil)
			if u == nil {
				t.Fatal("no upstream")
			}
			if tc.want != "" && u.Dial != tc.want {
				t.Errorf("chose %s, want %s", u.Dial, tc.want)
			}
			if got := placeholder(r, PlaceholderSessionRoute); got != tc.route {
				t.Errorf("session_route %q, want %q", got, tc.route)
			}
		})
	}
}

func TestCustomCookiePathParamAndSeparator(t *testing.T) {
	c := newCluster()
	s := provision(t, &StickyRoute{Routes: routes(), Cookies: []string{"SID", "JSESSIONID"}, PathParams: []string{"sid"}, Separator: "!"}, c)
	for target, cookie := range map[string]string{
		"/x;sid=A!tomcat3": "",
		"/x":               "SID=A!tomcat3",
	} {
		r := request(target)
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		if u := s.Select(c.pool, r, nil); u.Dial != "127.0.0.1:8012" {
			t.Errorf("%s %s: chose %s", target, cookie, u.Dial)
		}
	}
	r := request("/x", "JSESSIONID=A.tomcat3") // "." is not the separator now
	s.Select(c.pool, r, nil)
	if got := placeholder(r, PlaceholderSessionRoute); got != "" {
		t.Errorf("route read with the wrong separator: %q", got)
	}
}

func TestStickySessionStaysAndFailsOver(t *testing.T) {
	c := newCluster()
	s := provision(t, &StickyRoute{Routes: routes()}, c)
	for i := 0; i < 10; i++ {
		r := request("/share/", "JSESSIONID=A.tomcat2")
		if u := s.Select(c.pool, r, nil); u.Dial != "127.0.0.1:8011" {
			t.Fatalf("request %d went to %s", i, u.Dial)
		}
		if placeholder(r, PlaceholderRouteChanged) != "false" {
			t.Error("route_changed not false")
		}
	}
	c.down["127.0.0.1:8011"] = true
	r := request("/share/", "JSESSIONID=A.tomcat2")
	u := s.Select(c.pool, r, nil)
	if u == nil || u.Dial == "127.0.0.1:8011" {
		t.Fatalf("failover chose %v", u)
	}
	if placeholder(r, PlaceholderRouteChanged) != "true" {
		t.Error("route_changed not true after failover")
	}
}

func TestRetryMovesOffTheFailedUpstream(t *testing.T) {
	c := newCluster()
	s := provision(t, &StickyRoute{Routes: routes()}, c)
	r := request("/share/", "JSESSIONID=A.tomcat2")
	first := s.Select(c.pool, r, nil)
	// the proxy failed to reach it (still marked available: no passive
	// health) and asks again for the same request
	second := s.Select(c.pool, r, nil)
	if first.Dial != "127.0.0.1:8011" || second == nil || second == first {
		t.Fatalf("first %v, retry %v: the retry must move to another node", first.Dial, second)
	}
	third := s.Select(c.pool, r, nil)
	fourth := s.Select(c.pool, r, nil)
	if third == nil || fourth == nil {
		t.Fatal("once every node was tried, retries may use them again")
	}
}

func TestNoFailover(t *testing.T) {
	c := newCluster()
	s := provision(t, &StickyRoute{Routes: routes(), NoFailover: true}, c)
	c.down["127.0.0.1:8011"] = true
	if u := s.Select(c.pool, request("/share/", "JSESSIONID=A.tomcat2"), nil); u != nil {
		t.Errorf("nofailover chose %s for a session whose node is down", u.Dial)
	}
	if u := s.Select(c.pool, request("/share/"), nil); u == nil || u.Dial == "127.0.0.1:8011" {
		t.Errorf("a request without a session must still be served: %v", u)
	}
}

func TestRedirectIsThePreferredFailover(t *testing.T) {
	c := newCluster()
	rs := routes()
	rs[1].Redirect = "tomcat3"
	s := provision(t, &StickyRoute{Routes: rs}, c)
	c.down["127.0.0.1:8011"] = true
	for i := 0; i < 5; i++ {
		if u := s.Select(c.pool, request("/share/", "JSESSIONID=A.tomcat2"), nil); u.Dial != "127.0.0.1:8012" {
			t.Fatalf("redirect ignored: %s", u.Dial)
		}
	}
	c.down["127.0.0.1:8012"] = true
	if u := s.Select(c.pool, request("/share/", "JSESSIONID=A.tomcat2"), nil); u == nil || u.Dial != "127.0.0.1:8010" {
		t.Fatalf("redirect target down too: chose %v, want the fallback's 8010", u)
	}
}

func TestStatuses(t *testing.T) {
	for _, st := range []string{StatusDrain, StatusDisabled} {
		t.Run(st, func(t *testing.T) {
			c := newCluster()
			rs := routes()
			rs[1].Status = st
			s := provision(t, &StickyRoute{Routes: rs}, c)
			if u := s.Select(c.pool, request("/", "JSESSIONID=A.tomcat2"), nil); u.Dial != "127.0.0.1:8011" {
				t.Errorf("bound session not served by %s node: %s", st, u.Dial)
			}
			for i := 0; i < 30; i++ {
				if u := s.Select(c.pool, request("/"), nil); u.Dial == "127.0.0.1:8011" {
					t.Fatalf("%s node took a new session", st)
				}
			}
		})
	}
	t.Run("stopped", func(t *testing.T) {
		c := newCluster()
		rs := routes()
		rs[1].Status = StatusStopped
		s := provision(t, &StickyRoute{Routes: rs}, c)
		for i := 0; i < 30; i++ {
			if u := s.Select(c.pool, request("/", "JSESSIONID=A.tomcat2"), nil); u.Dial == "127.0.0.1:8011" {
				t.Fatal("stopped node took a request")
			}
		}
	})
	t.Run("standby", func(t *testing.T) {
		c := newCluster()
		rs := routes()
		rs[2].Status = StatusStandby
		s := provision(t, &StickyRoute{Routes: rs}, c)
		for i := 0; i < 30; i++ {
			if u := s.Select(c.pool, request("/"), nil); u.Dial == "127.0.0.1:8012" {
				t.Fatal("standby node took a new session while others were up")
			}
		}
		c.down["127.0.0.1:8010"], c.down["127.0.0.1:8011"] = true, true
		if u := s.Select(c.pool, request("/"), nil); u == nil || u.Dial != "127.0.0.1:8012" {
			t.Fatalf("standby not used when all others are down: %v", u)
		}
	})
}

func TestAllUpstreamsDown(t *testing.T) {
	c := newCluster()
	s := provision(t, &StickyRoute{Routes: routes()}, c)
	for _, u := range c.pool {
		c.down[u.Dial] = true
	}
	if u := s.Select(c.pool, request("/", "JSESSIONID=A.tomcat1"), nil); u != nil {
		t.Errorf("chose %s with every node down", u.Dial)
	}
	if u := s.Select(c.pool, request("/"), nil); u != nil {
		t.Errorf("chose %s with every node down", u.Dial)
	}
}

func TestFallbackPolicyIsUsed(t *testing.T) {
	c := newCluster()
	s := provision(t, &StickyRoute{Routes: routes(), FallbackRaw: json.RawMessage(`{"policy":"first"}`)}, c)
	for i := 0; i < 5; i++ {
		if u := s.Select(c.pool, request("/"), nil); u.Dial != "127.0.0.1:8010" {
			t.Fatalf("fallback first chose %s", u.Dial)
		}
	}
	// default round_robin spreads new sessions
	s2 := provision(t, &StickyRoute{Routes: routes()}, c)
	seen := map[string]bool{}
	for i := 0; i < 6; i++ {
		seen[s2.Select(c.pool, request("/"), nil).Dial] = true
	}
	if len(seen) != 3 {
		t.Errorf("round_robin fallback used %d of 3 nodes", len(seen))
	}
}

func TestProvisionErrors(t *testing.T) {
	cases := map[string]struct {
		routes []Route
		want   string
	}{
		"same address":     {[]Route{{Name: "a", Upstream: "h:1"}, {Name: "b", Upstream: "H:1"}}, "routes a and b name the same upstream"},
		"same name":        {[]Route{{Name: "a", Upstream: "h:1"}, {Name: "a", Upstream: "h:2"}}, "route a is given twice"},
		"bad status":       {[]Route{{Name: "a", Upstream: "h:1", Status: "sleepy"}}, "unknown status"},
		"unknown redirect": {[]Route{{Name: "a", Upstream: "h:1", Redirect: "zz"}}, "unknown route zz"},
		"no upstream":      {[]Route{{Name: "a"}}, "needs an upstream"},
		"weight 0":         {[]Route{{Name: "a", Upstream: "h:1", Weight: new(0)}}, "weight 0 out of range 1–100"},
		"weight 101":       {[]Route{{Name: "a", Upstream: "h:1", Weight: new(101)}}, "weight 101 out of range 1–100"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := &StickyRoute{Routes: tc.routes}
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			if err := s.Provision(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`sticky_route {
		route tomcat1 127.0.0.1:8010
		route tomcat2 127.0.0.1:8011 {
			status drain
			redirect tomcat1
		}
		cookie JSESSIONID
		cookie SID
		path_param jsessionid
		separator .
		nofailover
		fallback first
	}`)
	var s StickyRoute
	if err := s.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if len(s.Routes) != 2 || s.Routes[1].Status != "drain" || s.Routes[1].Redirect != "tomcat1" ||
		len(s.Cookies) != 2 || s.PathParams[0] != "jsessionid" || s.Separator != "." || !s.NoFailover ||
		!strings.Contains(string(s.FallbackRaw), `"first"`) {
		t.Errorf("parsed %+v, fallback %s", s, s.FallbackRaw)
	}
	bad := map[string]string{
		"sticky_route {\n route tomcat1\n}":                     "Testfile:2",
		"sticky_route {\n route a h:1 {\n status asleep\n }\n}": "unknown status",
		"sticky_route {\n route a h:1\n route b h:1\n}":         "same upstream",
		"sticky_route {\n bogus\n}":                             "unrecognized sticky_route option",
		"sticky_route {\n fallback nonexistent_policy\n}":       "nonexistent_policy",
		"sticky_route {\n route a h:1 {\n weight zero\n }\n}":   "Testfile:3",
	}
	for in, want := range bad {
		var s StickyRoute
		if err := s.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want error containing %q", in, err, want)
		}
	}
}

func TestWeightsSpreadNewSessions(t *testing.T) {
	c := newCluster()
	rs := routes()
	rs[0].Weight, rs[1].Weight, rs[2].Weight = new(1), new(2), new(1)
	s := provision(t, &StickyRoute{Routes: rs}, c)
	got := map[string]int{}
	for i := 0; i < 400; i++ {
		got[s.Select(c.pool, request("/"), nil).Dial]++
	}
	if got["127.0.0.1:8010"] != 100 || got["127.0.0.1:8011"] != 200 || got["127.0.0.1:8012"] != 100 {
		t.Errorf("weights 1:2:1 gave %v", got)
	}
	// weights apply to new sessions only: a bound session stays put
	for i := 0; i < 10; i++ {
		if u := s.Select(c.pool, request("/", "JSESSIONID=A.tomcat3"), nil); u.Dial != "127.0.0.1:8012" {
			t.Fatalf("bound session moved to %s", u.Dial)
		}
	}
	c.down["127.0.0.1:8011"] = true
	for i := 0; i < 10; i++ {
		if u := s.Select(c.pool, request("/"), nil); u.Dial == "127.0.0.1:8011" {
			t.Fatal("weighted selection chose a node that is down")
		}
	}
}

package integration

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads Caddy's /metrics from the in-process admin endpoint and
// sums the samples of a metric whose labels include every given pair.
func scrape(t *testing.T) func(name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return func(name string, labels ...string) float64 {
		sum := 0.0
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines:
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, name+"{") {
				continue
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if !strings.Contains(line, labels[i]+`="`+labels[i+1]+`"`) {
					continue lines
				}
			}
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err == nil {
				sum += v
			}
		}
		return sum
	}
}

// TestMetricsMatchAScriptedMix: new sessions, sticky requests, a 404, a
// response the transport cannot relay (502) and a failover after a node
// was killed move Caddy's /metrics counters by exactly what happened.
func TestMetricsMatchAScriptedMix(t *testing.T) {
	skipIfShort(t)
	nodes := balancerNodes(t, nil)
	loadCaddyfile(t, balancerSiteFor("", nodes, "", "\t\tname metered\n"))
	before := scrape(t)
	bal := []string{"balancer", "metered"}

	// 3 new sessions
	for range 3 {
		if _, _, err := hit(newSessionClient(t), sessionJSP()); err != nil {
			t.Fatal(err)
		}
	}
	// a session: 1 new, then 4 sticky
	c := newSessionClient(t)
	first, _, err := hit(c, sessionJSP())
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, _, err := hit(c, sessionJSP()); err != nil {
			t.Fatal(err)
		}
	}
	// a 404 and a 502 (a status the transport cannot relay), both without a session
	for _, tc := range []struct {
		path string
		want int
	}{{"/share/no-such-page.jsp", 404}, {"/share/status.jsp?code=1000", 502}} {
		resp, err := http.Get(httpBase + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("GET %s: %d, want %d", tc.path, resp.StatusCode, tc.want)
		}
	}
	// kill the session's node; once Caddy sees it down, the session's next
	// request fails over
	home, other := nodeNamed(nodes, first.Node)
	if err := home.Kill(); err != nil {
		t.Fatal(err)
	}
	rtWait(t, inProcessAdmin(), "metered", 10*time.Second, home.Name()+" seen down", func(b rtBalancer) bool { return !b.member(home.Name()).Healthy })
	v, _, err := hit(c, sessionJSP())
	if err != nil || v.Node != other.Name() || v.Count != 6 {
		t.Fatalf("after the kill: %+v %v", v, err)
	}

	after := scrape(t)
	delta := func(name string, labels ...string) float64 { return after(name, labels...) - before(name, labels...) }
	checks := []struct {
		what      string
		got, want float64
	}{
		{"new sessions (3 + the session's first + the 404 + the 502)", delta("caddy_ajp_member_new_sessions_total", bal...), 6},
		{"sticky requests of the session on its node", delta("caddy_ajp_member_sticky_total", "balancer", "metered", "route", home.Name()), 4},
		{"requests routed", delta("caddy_ajp_member_requests_total", bal...), 11},
		{"failovers from the killed node to the other", delta("caddy_ajp_failovers_total", "balancer", "metered", "from_route", home.Name(), "to_route", other.Name()), 1},
		{"failed attempts (Caddy saw the node down before the request)", delta("caddy_ajp_member_failures_total", bal...), 0},
		{"404s relayed", delta("caddy_ajp_responses_total", "code_class", "4xx", "upstream", nodes[0].AJPAddr()) + delta("caddy_ajp_responses_total", "code_class", "4xx", "upstream", nodes[1].AJPAddr()), 1},
		{"2xx relayed", delta("caddy_ajp_responses_total", "code_class", "2xx", "upstream", nodes[0].AJPAddr()) + delta("caddy_ajp_responses_total", "code_class", "2xx", "upstream", nodes[1].AJPAddr()), 9},
		{"unrelayable responses", delta("caddy_ajp_failures_total", "kind", "unrelayable", "upstream", nodes[0].AJPAddr()) + delta("caddy_ajp_failures_total", "kind", "unrelayable", "upstream", nodes[1].AJPAddr()), 1},
		{"the killed node's status gauge: active", after("caddy_ajp_member_status", "balancer", "metered", "route", home.Name(), "status", "active"), 1},
		{"the killed node's health gauge", after("caddy_ajp_member_healthy", "balancer", "metered", "route", home.Name()), 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if n := after("caddy_ajp_cping_seconds_count", "upstream", other.AJPAddr()); n < 1 {
		t.Errorf("no CPING round trip recorded for %s", other.AJPAddr())
	}
}

package balancer

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

func TestMetricsReportTheMembers(t *testing.T) {
	b, ms := Join("metrics-test", twoMembers(), JoinOptions{})
	defer b.Leave()
	ms[0].Routed()
	ms[0].NewSessions.Add(1)
	ms[1].Routed()
	ms[1].Sticky.Add(1)
	b.Failover(ms[1], ms[0])
	b.Failover(ms[1], ms[0])
	want := `
# HELP caddy_ajp_failovers_total Requests of a session routed away from its member, by the member they went to.
# TYPE caddy_ajp_failovers_total counter
caddy_ajp_failovers_total{balancer="metrics-test",from_route="tomcat2",to_route="tomcat1"} 2
# HELP caddy_ajp_member_new_sessions_total Requests routed to the member without a session route.
# TYPE caddy_ajp_member_new_sessions_total counter
caddy_ajp_member_new_sessions_total{balancer="metrics-test",route="tomcat1",upstream="127.0.0.1:8010"} 1
caddy_ajp_member_new_sessions_total{balancer="metrics-test",route="tomcat2",upstream="127.0.0.1:8011"} 0
`
	// only this balancer's series: others of earlier tests may be registered
	var keep []string
	out, err := testutil.CollectAndFormat(theCollector, expfmt.TypeTextPlain, "caddy_ajp_failovers_total", "caddy_ajp_member_new_sessions_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "#") || strings.Contains(line, `balancer="metrics-test"`) {
			keep = append(keep, line)
		}
	}
	if got := strings.TrimSpace(strings.Join(keep, "\n")); got != strings.TrimSpace(want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	problems, err := testutil.CollectAndLint(theCollector)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if n := testutil.CollectAndCount(theCollector, "caddy_ajp_member_status"); n < 10 {
		t.Errorf("%d status series, want 5 per member", n)
	}
}

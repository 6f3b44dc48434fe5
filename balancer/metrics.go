package balancer

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The balancers' metrics for Caddy's /metrics (caddy_ajp_*, labels
// balancer, route, upstream), read from the members' counters at scrape
// time: counting costs a request only the atomic additions sticky_route
// makes. Label values come from the configuration only.

var (
	memberLabels   = []string{"balancer", "route", "upstream"}
	descRequests   = prometheus.NewDesc("caddy_ajp_member_requests_total", "Requests routed to the member (each attempt).", memberLabels, nil)
	descNew        = prometheus.NewDesc("caddy_ajp_member_new_sessions_total", "Requests routed to the member without a session route.", memberLabels, nil)
	descSticky     = prometheus.NewDesc("caddy_ajp_member_sticky_total", "Requests routed to the member by their session's route.", memberLabels, nil)
	descFailures   = prometheus.NewDesc("caddy_ajp_member_failures_total", "Attempts on the member that failed and were retried elsewhere.", memberLabels, nil)
	descInFlight   = prometheus.NewDesc("caddy_ajp_member_in_flight", "Requests in flight to the member's upstream.", memberLabels, nil)
	descHealthy    = prometheus.NewDesc("caddy_ajp_member_healthy", "1 when Caddy considers the member's upstream healthy.", memberLabels, nil)
	descLoadfactor = prometheus.NewDesc("caddy_ajp_member_loadfactor", "The member's loadfactor in force.", memberLabels, nil)
	descStatus     = prometheus.NewDesc("caddy_ajp_member_status", "1 for the member's status in force (active, drain, disabled, stopped, standby), 0 for the others.",
		append(append([]string(nil), memberLabels...), "status"), nil)
	descFailovers = prometheus.NewDesc("caddy_ajp_failovers_total", "Requests of a session routed away from its member, by the member they went to.",
		[]string{"balancer", "from_route", "to_route"}, nil)
)

var statuses = []string{StatusActive, StatusDrain, StatusDisabled, StatusStopped, StatusStandby}

type collector struct{}

// Describe sends the metric descriptions.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descNew, descSticky, descFailures, descInFlight, descHealthy, descLoadfactor, descStatus, descFailovers} {
		ch <- d
	}
}

// Collect sends the members' current counts.
func (collector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range Balancers() {
		for _, m := range b.Members() {
			l := []string{b.name, m.route, m.Config().Upstream}
			counter := func(d *prometheus.Desc, v uint64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
			}
			gauge := func(d *prometheus.Desc, v float64, extra ...string) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(append([]string(nil), l...), extra...)...)
			}
			counter(descRequests, m.Requests.Load())
			counter(descNew, m.NewSessions.Load())
			counter(descSticky, m.Sticky.Load())
			counter(descFailures, m.Failures.Load())
			inFlight, healthy := m.InFlight()
			gauge(descInFlight, float64(inFlight))
			gauge(descHealthy, boolFloat(healthy))
			gauge(descLoadfactor, float64(max(m.Weight(), 1)))
			st := m.Status()
			for _, s := range statuses {
				gauge(descStatus, boolFloat(s == st), s)
			}
		}
		for k, v := range b.failoverCounts() {
			ch <- prometheus.MustNewConstMetric(descFailovers, prometheus.CounterValue, float64(v), b.name, k[0], k[1])
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var theCollector prometheus.Collector = collector{}

// RegisterMetrics adds the balancers' metrics to Caddy's registry (the
// active configuration's); registering again is harmless.
func RegisterMetrics(reg *prometheus.Registry) {
	if reg != nil {
		_ = reg.Register(theCollector)
	}
}

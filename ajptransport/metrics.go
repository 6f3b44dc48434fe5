package ajptransport

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// What the transport counts per backend address, for Caddy's /metrics
// (caddy_ajp_*, label upstream). Addresses come from the configuration
// only (a request cannot name one), so a client cannot create series. The
// counts live per address for the life of the process, across reloads.

// Failure kinds, as the failures metric labels them.
const (
	failDial        = "dial"        // the connection could not be made
	failCPing       = "cping"       // a new connection did not answer CPING
	failTimeout     = "timeout"     // no packet within read_timeout
	failProtocol    = "protocol"    // the backend broke AJP
	failSecret      = "secret"      // the backend refused the secret
	failClientGone  = "client_gone" // the client went away mid-exchange
	failUnrelayable = "unrelayable" // a response HTTP cannot relay
	failPoolFull    = "pool_full"   // max_conns_per_host busy for dial_timeout
	failBroken      = "broken"      // the connection failed mid-exchange (the node died, reset it)
)

var failKinds = []string{failDial, failCPing, failTimeout, failProtocol, failBroken, failSecret, failClientGone, failUnrelayable, failPoolFull}

// cpingBuckets are the upper bounds of the CPING round-trip histogram.
var cpingBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// upstreamStats are the counts of one backend address.
type upstreamStats struct {
	addr        string
	responses   [6]atomic.Uint64 // by status class: [1] 1xx … [5] 5xx; [0] other
	failures    sync.Map         // kind → *atomic.Uint64
	dialed      atomic.Uint64
	cpingFails  atomic.Uint64
	cpingCount  atomic.Uint64
	cpingSumNs  atomic.Uint64
	cpingBucket [12]atomic.Uint64 // counts at or below cpingBuckets[i]
	reqBytes    atomic.Uint64
	respBytes   atomic.Uint64
}

var stats = struct {
	sync.RWMutex
	m map[string]*upstreamStats
}{m: map[string]*upstreamStats{}}

// statsFor returns the counts of a backend address, made on first use.
func statsFor(addr string) *upstreamStats {
	key := strings.ToLower(addr)
	stats.RLock()
	s := stats.m[key]
	stats.RUnlock()
	if s != nil {
		return s
	}
	stats.Lock()
	defer stats.Unlock()
	if s = stats.m[key]; s == nil {
		s = &upstreamStats{addr: addr}
		stats.m[key] = s
	}
	return s
}

func (s *upstreamStats) fail(kind string) {
	if s == nil {
		return
	}
	c, _ := s.failures.LoadOrStore(kind, new(atomic.Uint64))
	c.(*atomic.Uint64).Add(1)
}

func (s *upstreamStats) response(status int) {
	if s == nil {
		return
	}
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	s.responses[class].Add(1)
}

func (s *upstreamStats) cping(d time.Duration, err error) {
	if s == nil {
		return
	}
	if err != nil {
		s.cpingFails.Add(1)
		return
	}
	s.cpingCount.Add(1)
	s.cpingSumNs.Add(uint64(d))
	for i, b := range cpingBuckets {
		if d.Seconds() <= b {
			s.cpingBucket[i].Add(1)
		}
	}
}

func (s *upstreamStats) bytes(req, resp int64) {
	if s == nil {
		return
	}
	if req > 0 {
		s.reqBytes.Add(uint64(req))
	}
	if resp > 0 {
		s.respBytes.Add(uint64(resp))
	}
}

// collector reports the counts at scrape time: nothing is done per request
// but the atomic additions above.
type collector struct{}

var (
	descResponses = prometheus.NewDesc("caddy_ajp_responses_total",
		"Responses relayed from the AJP backend, by status class.", []string{"upstream", "code_class"}, nil)
	descFailures = prometheus.NewDesc("caddy_ajp_failures_total",
		"Failed AJP exchanges by kind: dial, cping, timeout, protocol, broken, secret, client_gone, unrelayable, pool_full.", []string{"upstream", "kind"}, nil)
	descConns = prometheus.NewDesc("caddy_ajp_connections",
		"AJP connections to the backend: open (busy or idle), idle, and requests waiting for one.", []string{"upstream", "state"}, nil)
	descDialed = prometheus.NewDesc("caddy_ajp_connections_dialed_total",
		"AJP connections opened to the backend.", []string{"upstream"}, nil)
	descCPing = prometheus.NewDesc("caddy_ajp_cping_seconds",
		"CPING/CPONG round trips (health checks and connection checks).", []string{"upstream"}, nil)
	descCPingFails = prometheus.NewDesc("caddy_ajp_cping_failures_total",
		"CPINGs that got no CPONG in time.", []string{"upstream"}, nil)
	descReqBytes = prometheus.NewDesc("caddy_ajp_request_body_bytes_total",
		"Request body bytes sent to the backend.", []string{"upstream"}, nil)
	descRespBytes = prometheus.NewDesc("caddy_ajp_response_body_bytes_total",
		"Response body bytes received from the backend.", []string{"upstream"}, nil)
)

var classes = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// Describe sends the metric descriptions.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descResponses, descFailures, descConns, descDialed, descCPing, descCPingFails, descReqBytes, descRespBytes} {
		ch <- d
	}
}

// Collect sends the current counts.
func (collector) Collect(ch chan<- prometheus.Metric) {
	stats.RLock()
	all := make([]*upstreamStats, 0, len(stats.m))
	for _, s := range stats.m {
		all = append(all, s)
	}
	stats.RUnlock()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, s := range all {
		for i := 1; i < len(classes); i++ {
			counter(descResponses, s.responses[i].Load(), s.addr, classes[i])
		}
		for _, k := range failKinds {
			var n uint64
			if c, ok := s.failures.Load(k); ok {
				n = c.(*atomic.Uint64).Load()
			}
			counter(descFailures, n, s.addr, k)
		}
		ps, _ := Pool(s.addr)
		for state, v := range map[string]int{"open": ps.Open, "idle": ps.Idle, "waiting": ps.Waiting} {
			ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(v), s.addr, state)
		}
		counter(descDialed, s.dialed.Load(), s.addr)
		buckets := make(map[float64]uint64, len(cpingBuckets))
		for i, b := range cpingBuckets {
			buckets[b] = s.cpingBucket[i].Load()
		}
		ch <- prometheus.MustNewConstHistogram(descCPing, s.cpingCount.Load(), float64(s.cpingSumNs.Load())/1e9, buckets, s.addr)
		counter(descCPingFails, s.cpingFails.Load(), s.addr)
		counter(descReqBytes, s.reqBytes.Load(), s.addr)
		counter(descRespBytes, s.respBytes.Load(), s.addr)
	}
}

// theCollector is registered on each configuration's metrics registry.
var theCollector prometheus.Collector = collector{}

// registerMetrics adds the transport's metrics to Caddy's registry (the
// active configuration's, served on the admin endpoint's /metrics).
func registerMetrics(reg *prometheus.Registry) {
	if reg == nil {
		return
	}
	// another transport of this configuration may have registered it
	_ = reg.Register(theCollector)
}

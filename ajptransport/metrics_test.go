package ajptransport

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// metric reads one series of the transport's collector.
func metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	registerMetrics(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

// TestMetricsCountWhatHappened: each kind of outcome moves its counter by
// exactly one, for the upstream it happened on.
func TestMetricsCountWhatHappened(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) {
		for {
			pr, err := c.next()
			if err != nil {
				return
			}
			if pr.URI == "/odd" {
				c.sendHeaders(100)
				c.end(true)
				continue
			}
			body, _ := c.readBody(pr)
			c.sendHeaders(200, "Content-Length", "2")
			c.sendBody("ok")
			c.end(true)
			_ = body
		}
	})
	addr := fc.addr()
	up := map[string]string{"upstream": addr}
	before := func(name string, extra ...string) float64 {
		l := map[string]string{"upstream": addr}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return metric(t, name, l)
	}
	ok0, odd0 := before("caddy_ajp_responses_total", "code_class", "2xx"), before("caddy_ajp_failures_total", "kind", "unrelayable")
	tr := newTransport(t, nil)
	if got := fetch(t, tr, addr, "/"); got != "ok" {
		t.Fatalf("body %q", got)
	}
	req := httptest.NewRequest("POST", "http://"+addr+"/post", strings.NewReader("hello"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := metric(t, "caddy_ajp_connections", map[string]string{"upstream": addr, "state": "idle"}); got != 1 {
		t.Errorf("idle connections %v, want 1", got)
	}
	resp, err = get(t, tr, addr, "/odd")
	if err != nil || resp.StatusCode != 502 {
		t.Fatalf("odd status: %v %v", resp, err)
	}
	resp.Body.Close()

	if d := metric(t, "caddy_ajp_responses_total", map[string]string{"upstream": addr, "code_class": "2xx"}) - ok0; d != 2 {
		t.Errorf("2xx responses +%v, want +2", d)
	}
	if d := metric(t, "caddy_ajp_failures_total", map[string]string{"upstream": addr, "kind": "unrelayable"}) - odd0; d != 1 {
		t.Errorf("unrelayable failures +%v, want +1", d)
	}
	if got := metric(t, "caddy_ajp_request_body_bytes_total", up); got < 5 {
		t.Errorf("request body bytes %v, want at least the 5 posted", got)
	}
	if got := metric(t, "caddy_ajp_response_body_bytes_total", up); got < 4 {
		t.Errorf("response body bytes %v, want at least 4", got)
	}
	if got := metric(t, "caddy_ajp_connections_dialed_total", up); got < 1 {
		t.Errorf("connections dialled %v", got)
	}
	if got := metric(t, "caddy_ajp_cping_seconds", up); got < 1 {
		t.Errorf("CPING round trips observed: %v", got)
	}
	if got := metric(t, "caddy_ajp_connections", map[string]string{"upstream": addr, "state": "idle"}); got != 0 {
		t.Errorf("idle connections %v after the unrelayable response closed it, want 0", got)
	}

	fc.close()
	d0 := metric(t, "caddy_ajp_failures_total", map[string]string{"upstream": addr, "kind": "dial"})
	tr2 := newTransport(t, nil)
	if _, err := get(t, tr2, addr, "/"); err == nil {
		t.Fatal("a closed port answered")
	}
	if d := metric(t, "caddy_ajp_failures_total", map[string]string{"upstream": addr, "kind": "dial"}) - d0; d != 1 {
		t.Errorf("dial failures +%v, want +1", d)
	}
	problems, err := testutil.CollectAndLint(theCollector)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// A CPING answered with anything but CPONG is a failed CPING in /metrics,
// not an observed round trip, whether a new connection's or the health
// probe's.
func TestMetricsCountAWrongCPongAsFailed(t *testing.T) {
	fc := newFakeContainer(t, func(c *fakeConn) {
		for {
			if _, err := c.readPacket(); err != nil {
				return
			}
			c.end(true) // END_RESPONSE where CPONG belongs
		}
	})
	addr := fc.addr()
	up := map[string]string{"upstream": addr}
	fails0, seen0 := metric(t, "caddy_ajp_cping_failures_total", up), metric(t, "caddy_ajp_cping_seconds", up)
	tr := newTransport(t, nil)
	if _, err := get(t, tr, addr, "/"); err == nil {
		t.Fatal("a node that does not answer CPONG served a request")
	}
	req := httptest.NewRequest(MethodCPing, "http://"+addr+"/", nil)
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("the health probe passed a node that does not answer CPONG")
	}
	if d := metric(t, "caddy_ajp_cping_failures_total", up) - fails0; d != 2 {
		t.Errorf("CPING failures +%v, want +2 (the dial's and the probe's)", d)
	}
	if d := metric(t, "caddy_ajp_cping_seconds", up) - seen0; d != 0 {
		t.Errorf("CPING round trips observed +%v, want none", d)
	}
}

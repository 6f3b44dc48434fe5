package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

// sessionView is what session.jsp prints.
type sessionView struct {
	Count int    `json:"count"`
	Node  string `json:"node"`
	ID    string `json:"id"`
}

// startCluster starts the user's two-node cluster (jvmRoute tomcat1 and
// tomcat2, DeltaManager replication) and a Caddy in front of it with the
// sticky_route policy and the failover settings the README documents.
func startCluster(t *testing.T) ([]*tomcattest.Node, *http.Client) {
	t.Helper()
	skipIfShort(t)
	nodes := tomcattest.StartClusterT(t,
		tomcattest.Options{Name: "tomcat1", AJPPort: tomcattest.FreePort(t), Secret: secret},
		tomcattest.Options{Name: "tomcat2", AJPPort: tomcattest.FreePort(t), Secret: secret},
	)
	n1, n2 := nodes[0].AJPAddr(), nodes[1].AJPAddr()
	loadCaddyfile(t, fmt.Sprintf(`
http://127.0.0.1:{HTTP_PORT} {
	reverse_proxy %[1]s %[2]s {
		transport ajp {
			secret {env.AJP_TEST_SECRET}
		}
		lb_policy sticky_route {
			route tomcat1 %[1]s
			route tomcat2 %[2]s
		}
		lb_retries 3
		lb_try_duration 5s
		fail_duration 5s
		health_uri /share/tiny.jsp
		health_interval 1s
		health_timeout 1s
		header_down X-Route-Changed {http.reverse_proxy.sticky_route.route_changed}
	}
}
`, n1, n2))
	return nodes, newSessionClient(t)
}

func newSessionClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
}

// sessionJSP is session.jsp behind the Caddy of startCluster.
func sessionJSP() string { return httpBase + "/share/session.jsp" }

// hit GETs url (a session.jsp) with c and decodes the session it prints;
// any status but 200 is an error.
func hit(c *http.Client, url string) (sessionView, *http.Response, error) {
	var v sessionView
	resp, err := c.Get(url)
	if err != nil {
		return v, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return v, resp, err
	}
	if resp.StatusCode != 200 {
		return v, resp, fmt.Errorf("status %d: %.200s", resp.StatusCode, body)
	}
	return v, resp, json.Unmarshal(body, &v)
}

func sessionBase(id string) string {
	base, _, _ := strings.Cut(id, ".")
	return base
}

func TestStickySessionSurvivesTheDeathOfItsNode(t *testing.T) {
	nodes, c := startCluster(t)
	first, _, err := hit(c, sessionJSP())
	if err != nil {
		t.Fatal(err)
	}
	home := first.Node
	for i := 2; i <= 10; i++ {
		v, _, err := hit(c, sessionJSP())
		if err != nil {
			t.Fatal(err)
		}
		if v.Node != home || v.Count != i || sessionBase(v.ID) != sessionBase(first.ID) {
			t.Fatalf("request %d: %+v, want count %d on %s", i, v, i, home)
		}
	}

	dead, survivor := nodeNamed(nodes, home)
	if err := dead.Kill(); err != nil {
		t.Fatal(err)
	}
	v, resp, err := hit(c, sessionJSP())
	if err != nil {
		t.Fatalf("first request after SIGKILL of %s: %v", home, err)
	}
	if v.Node != survivor.Name() || v.Count != 11 || sessionBase(v.ID) != sessionBase(first.ID) {
		t.Fatalf("after failover: %+v, want the same session with count 11 on %s", v, survivor.Name())
	}
	if resp.Header.Get("X-Route-Changed") != "true" {
		t.Errorf("route_changed placeholder: %q, want true", resp.Header.Get("X-Route-Changed"))
	}
	// Tomcat's JvmRouteBinderValve re-binds the session to the survivor;
	// from now on it sticks there.
	for i := 12; i <= 16; i++ {
		v, resp, err := hit(c, sessionJSP())
		if err != nil {
			t.Fatal(err)
		}
		if v.Node != survivor.Name() || v.Count != i {
			t.Fatalf("request %d after failover: %+v", i, v)
		}
		if !strings.HasSuffix(v.ID, "."+survivor.Name()) || resp.Header.Get("X-Route-Changed") != "false" {
			t.Errorf("session %s not re-bound to %s (route_changed %q)", v.ID, survivor.Name(), resp.Header.Get("X-Route-Changed"))
		}
	}

	// The killed node comes back; new sessions reach it again.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := dead.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tomcattest.WaitClusterJoined(ctx, nodes...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, _, err := hit(newSessionClient(t), sessionJSP())
		if err == nil && v.Node == dead.Name() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new session reached the restarted %s within 30 s (last: %+v, %v)", dead.Name(), v, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// and the old session still counts on, wherever it lives now
	v, _, err = hit(c, sessionJSP())
	if err != nil || v.Count != 17 {
		t.Fatalf("old session after the restart: %+v %v", v, err)
	}
}

// TestFailoverUnderLoad: 50 client sessions make requests for 20 s while one
// node is killed. Target: no failed request, no session that loses its count.
func TestFailoverUnderLoad(t *testing.T) {
	nodes, _ := startCluster(t)
	const clients = 50
	const duration = 20 * time.Second
	var requests, failed, lost, doubled atomic.Int64
	var firstErrs sync.Map
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := newSessionClient(t)
			prev := 0
			for time.Now().Before(stop) {
				v, _, err := hit(c, sessionJSP())
				requests.Add(1)
				if err != nil {
					failed.Add(1)
					firstErrs.LoadOrStore(i, err.Error())
					continue
				}
				switch {
				case v.Count == prev+1:
				case v.Count > prev+1:
					doubled.Add(1) // the dead node counted, its answer was lost, the retry counted again
				default:
					lost.Add(1)
					firstErrs.LoadOrStore(fmt.Sprint("lost", i), fmt.Sprintf("count %d after %d (%s)", v.Count, prev, v.ID))
				}
				prev = v.Count
				time.Sleep(20 * time.Millisecond)
			}
		}(i)
	}
	time.Sleep(7 * time.Second)
	killedAt := time.Now()
	t.Logf("%d requests before the kill", requests.Load())
	if err := nodes[0].Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	t.Logf("failover under load: %d clients, %v, %d requests, node %s SIGKILLed at +7s; failed %d, sessions that lost their count %d, double-counted %d (%.1fs after the kill)",
		clients, duration, requests.Load(), nodes[0].Name(), failed.Load(), lost.Load(), doubled.Load(), time.Since(killedAt).Seconds())
	firstErrs.Range(func(k, v any) bool { t.Logf("%v: %v", k, v); return true })
	if failed.Load() != 0 || lost.Load() != 0 {
		t.Errorf("failed requests %d, lost counts %d: want 0 and 0", failed.Load(), lost.Load())
	}
}

// balancerNodes starts a two-node replicating cluster with jvmRoutes tomcat1
// and tomcat2; adjust changes each node's options first.
func balancerNodes(t *testing.T, adjust func(i int, o *tomcattest.Options)) []*tomcattest.Node {
	t.Helper()
	skipIfShort(t)
	opts := make([]tomcattest.Options, 2)
	for i := range opts {
		opts[i] = tomcattest.Options{Name: fmt.Sprintf("tomcat%d", i+1), AJPPort: tomcattest.FreePort(t), Secret: secret}
		if adjust != nil {
			adjust(i, &opts[i])
		}
	}
	return tomcattest.StartClusterT(t, opts...)
}

// balancerSiteFor is a site on the run's HTTP port (host is "127.0.0.1"
// unless given) with ajp_balancer /share* over nodes, routes named after
// them; memberWords go on every member line, block into the directive.
func balancerSiteFor(host string, nodes []*tomcattest.Node, memberWords, block string) string {
	if host == "" {
		host = "127.0.0.1"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "http://%s:{HTTP_PORT} {\n\tajp_balancer /share* {\n", host)
	for _, n := range nodes {
		fmt.Fprintf(&b, "\t\tmember ajp://%s/share route=%s %s\n", n.AJPAddr(), n.Name(), memberWords)
	}
	b.WriteString("\t\tstickysession JSESSIONID|jsessionid\n\t\tsecret {env.AJP_TEST_SECRET}\n")
	b.WriteString(block)
	b.WriteString("\t}\n}\n")
	return b.String()
}

// nodeNamed splits a two-node cluster into the node with that name and
// the other one.
func nodeNamed(nodes []*tomcattest.Node, name string) (home, other *tomcattest.Node) {
	for _, n := range nodes {
		if n.Name() == name {
			home = n
		} else {
			other = n
		}
	}
	return home, other
}

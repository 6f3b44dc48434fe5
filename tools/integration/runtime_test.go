package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/tools/harness"
	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

// rtMember is a member as GET /ajp/balancers shows it.
type rtMember struct {
	Route        string `json:"route"`
	Upstream     string `json:"upstream"`
	Status       string `json:"status"`
	ConfigStatus string `json:"config_status"`
	Override     *struct {
		Status *string `json:"status"`
	} `json:"override"`
	Healthy     bool   `json:"healthy"`
	InFlight    int    `json:"in_flight"`
	Requests    uint64 `json:"requests"`
	NewSessions uint64 `json:"new_sessions"`
}

type rtBalancer struct {
	Name     string     `json:"name"`
	Members  []rtMember `json:"members"`
	Orphaned []struct {
		Route  string `json:"route"`
		Reason string `json:"reason"`
	} `json:"orphaned"`
}

// rtGet reads one balancer from the admin API at admin (host:port).
func rtGet(admin, name string) (rtBalancer, error) {
	var b rtBalancer
	resp, err := http.Get("http://" + admin + "/ajp/balancers/" + name)
	if err != nil {
		return b, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return b, fmt.Errorf("GET %s: %d %s", name, resp.StatusCode, body)
	}
	return b, json.Unmarshal(body, &b)
}

func (b rtBalancer) member(route string) rtMember {
	for _, m := range b.Members {
		if m.Route == route {
			return m
		}
	}
	return rtMember{}
}

// rtSet POSTs a change of a member to the admin API and returns the status.
func rtSet(t *testing.T, admin, name, route, body string) int {
	t.Helper()
	resp, err := http.Post("http://"+admin+"/ajp/balancers/"+name+"/members/"+route, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s/%s %s: %v", name, route, body, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Logf("POST %s/%s %s: %d %s", name, route, body, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// rtWait polls the admin API until cond holds for the balancer, and
// returns how long it took.
func rtWait(t *testing.T, admin, name string, limit time.Duration, what string, cond func(rtBalancer) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		b, err := rtGet(admin, name)
		if err == nil && cond(b) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v (last: %+v, %v)", what, limit, b, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func inProcessAdmin() string { return fmt.Sprintf("127.0.0.1:%d", adminPort) }

// TestRollingRestartThroughTheAdminAPI is the README's recipe under load:
// for tomcat1 then tomcat2, through the admin API only, stop routing to it
// (its sessions fail over to the replica while it still runs), wait until
// nothing is in flight to it, restart Tomcat (SIGTERM, start), wait until
// Caddy sees it healthy, clear the override. 30 client sessions do
// session.jsp throughout, one POST in ten: no request may fail, no session
// lose its count, no POST run twice (a count that jumps).
func TestRollingRestartThroughTheAdminAPI(t *testing.T) {
	skipIfShort(t)
	nodes := balancerNodes(t, nil)
	loadCaddyfile(t, balancerSiteFor("", nodes, "", "\t\tname rolling\n"))
	admin := inProcessAdmin()
	t.Cleanup(func() {
		for _, r := range []string{"tomcat1", "tomcat2"} {
			rtSet(t, admin, "rolling", r, `{"status": null}`)
		}
	})

	const clients = 30
	var requests, posts, failed, lost, doubled atomic.Int64
	var firstErr sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newSessionClient(t)
			prev := 0
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var v sessionView
				var err error
				if n%10 == 9 {
					v, err = rtPost(c, sessionJSP())
					posts.Add(1)
				} else {
					v, _, err = hit(c, sessionJSP())
				}
				requests.Add(1)
				switch {
				case err != nil:
					failed.Add(1)
					firstErr.LoadOrStore(fmt.Sprint("fail", i), err.Error())
				case v.Count == prev+1:
				case v.Count > prev+1:
					doubled.Add(1)
					firstErr.LoadOrStore(fmt.Sprint("double", i), fmt.Sprintf("count %d after %d", v.Count, prev))
				default:
					lost.Add(1)
					firstErr.LoadOrStore(fmt.Sprint("lost", i), fmt.Sprintf("count %d after %d", v.Count, prev))
				}
				if err == nil {
					prev = v.Count
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	time.Sleep(3 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, n := range nodes {
		route := n.Name()
		if code := rtSet(t, admin, "rolling", route, `{"status": "stopped"}`); code != 200 {
			t.Fatalf("stop routing to %s: %d", route, code)
		}
		idle := rtWait(t, admin, "rolling", 30*time.Second, route+" idle", func(b rtBalancer) bool {
			m := b.member(route)
			return m.Status == "stopped" && m.InFlight == 0
		})
		restartAt := time.Now()
		if err := n.Restart(ctx); err != nil {
			t.Fatalf("restarting %s: %v", route, err)
		}
		if err := tomcattest.WaitClusterJoined(ctx, nodes...); err != nil {
			t.Fatal(err)
		}
		restarted := time.Since(restartAt)
		healthy := rtWait(t, admin, "rolling", 30*time.Second, route+" healthy", func(b rtBalancer) bool { return b.member(route).Healthy })
		if code := rtSet(t, admin, "rolling", route, `{"status": null}`); code != 200 {
			t.Fatalf("route to %s again: %d", route, code)
		}
		t.Logf("%s: in flight 0 after %v, restarted and rejoined in %v, healthy %v later", route, idle.Round(time.Millisecond),
			restarted.Round(time.Millisecond), healthy.Round(time.Millisecond))
		time.Sleep(2 * time.Second) // new sessions reach it before the next node goes
	}
	close(stop)
	wg.Wait()
	b, err := rtGet(admin, "rolling")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rolling restart of both nodes under %d client sessions: %d requests (%d POSTs), failed %d, lost counts %d, double counts %d; new sessions per node after: tomcat1 %d, tomcat2 %d",
		clients, requests.Load(), posts.Load(), failed.Load(), lost.Load(), doubled.Load(), b.member("tomcat1").NewSessions, b.member("tomcat2").NewSessions)
	firstErr.Range(func(k, v any) bool { t.Logf("%v: %v", k, v); return true })
	if failed.Load() != 0 || lost.Load() != 0 || doubled.Load() != 0 {
		t.Errorf("failed %d, lost %d, doubled %d: want 0, 0, 0", failed.Load(), lost.Load(), doubled.Load())
	}
	for _, m := range b.Members {
		if m.Status != "active" || m.Override != nil {
			t.Errorf("%s after the rolling restart: %s, override %v", m.Route, m.Status, m.Override)
		}
	}
}

// rtPost POSTs a form to session.jsp (a POST counts like a GET) and
// decodes the session it prints.
func rtPost(c *http.Client, url string) (sessionView, error) {
	var v sessionView
	resp, err := c.Post(url, "application/x-www-form-urlencoded", strings.NewReader("a=1&b=2"))
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return v, fmt.Errorf("POST status %d: %.200s", resp.StatusCode, body)
	}
	return v, json.Unmarshal(body, &v)
}

// TestOverridesAreSharedByInstancesAndSurviveReloadsAndRestarts runs two
// xcaddy-built Caddy processes with one storage folder and the same
// config: a drain set through A is in force on B within 2 s, survives a
// reload and a restart of B, and clearing it on B reaches A.
func TestOverridesAreSharedByInstancesAndSurviveReloadsAndRestarts(t *testing.T) {
	caddyBinary(t)
	nodes := balancerNodes(t, nil)
	shared := t.TempDir()
	type instance struct{ admin, base, caddyfile string }
	mk := func() instance {
		ap, err := harness.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		hp, err := harness.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cf := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	default_bind 127.0.0.1
	storage file_system %s
	skip_install_trust
}
http://127.0.0.1:%d {
	ajp_balancer /share* {
		name shared
		member ajp://%s/share route=tomcat1
		member ajp://%s/share route=tomcat2
		secret {env.AJP_SECRET}
	}
}
`, ap, shared, hp, nodes[0].AJPAddr(), nodes[1].AJPAddr())
		return instance{fmt.Sprintf("127.0.0.1:%d", ap), fmt.Sprintf("http://127.0.0.1:%d", hp), cf}
	}
	a, b := mk(), mk()
	// one after the other: two Caddy processes creating their local CA in
	// one fresh storage at the same moment race on its files (Caddy's own)
	startBinary(t, a.caddyfile)
	rtWait(t, a.admin, "shared", 15*time.Second, "instance A up", func(x rtBalancer) bool { return len(x.Members) == 2 })
	_, stopB := startBinaryProc(t, b.caddyfile)
	rtWait(t, b.admin, "shared", 15*time.Second, "instance B up", func(x rtBalancer) bool { return len(x.Members) == 2 })

	// drain tomcat1 on A
	if code := rtSet(t, a.admin, "shared", "tomcat1", `{"status": "drain"}`); code != 200 {
		t.Fatalf("drain on A: %d", code)
	}
	prop := rtWait(t, b.admin, "shared", 2*time.Second, "drain on A seen by B", func(x rtBalancer) bool { return x.member("tomcat1").Status == "drain" })
	t.Logf("a drain set on instance A is in force on instance B after %v", prop.Round(time.Millisecond))
	for i := range 10 {
		v, _, err := hit(newSessionClient(t), b.base+"/share/session.jsp")
		if err != nil {
			t.Fatalf("new session %d through B: %v", i, err)
		}
		if v.Node == "tomcat1" {
			t.Fatalf("new session %d through B went to the drained tomcat1", i)
		}
	}

	// a reload of B keeps it
	reload(t, b.admin, b.caddyfile)
	if x, err := rtGet(b.admin, "shared"); err != nil || x.member("tomcat1").Status != "drain" {
		t.Fatalf("after a reload of B: %+v %v, want tomcat1 drained", x.member("tomcat1"), err)
	}

	// a restart of B keeps it: the new process reads it from storage
	stopB()
	startBinary(t, b.caddyfile)
	restart := rtWait(t, b.admin, "shared", 15*time.Second, "B restarted with the drain", func(x rtBalancer) bool {
		return len(x.Members) == 2 && x.member("tomcat1").Status == "drain"
	})
	t.Logf("a restarted instance B came up with the drain in force (%v after start)", restart.Round(time.Millisecond))

	// clearing it on B reaches A
	if code := rtSet(t, b.admin, "shared", "tomcat1", `{"status": null}`); code != 200 {
		t.Fatalf("clear on B: %d", code)
	}
	back := rtWait(t, a.admin, "shared", 2*time.Second, "clear on B seen by A", func(x rtBalancer) bool { return x.member("tomcat1").Status == "active" })
	t.Logf("clearing it on B is in force on A after %v", back.Round(time.Millisecond))
	if _, err := os.Stat(filepath.Join(shared, "ajp", "balancers", "shared", "tomcat1.json")); !os.IsNotExist(err) {
		t.Errorf("the cleared override is still stored: %v", err)
	}
}

// reload loads the Caddyfile again through the admin API (caddy reload).
func reload(t *testing.T, admin, caddyfile string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+admin+"/load", bytes.NewBufferString(caddyfile))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
}

// TestOverrideForAChangedMemberIsOrphaned: a drain set before a reload that
// removes the member is reported as orphaned; after a reload that puts a
// different upstream under the same route, it is still orphaned (set for
// another upstream) and not applied. The API refuses unknown names, bad
// JSON and bad statuses and changes no other member.
func TestOverrideForAChangedMemberIsOrphaned(t *testing.T) {
	skipIfShort(t)
	other, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	third, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	site := func(members string) string {
		return "http://127.0.0.1:{HTTP_PORT} {\n\tajp_balancer /share* {\n\t\tname orphans\n" + members + "\t\tsecret {env.AJP_TEST_SECRET}\n\t}\n}\n"
	}
	m1 := fmt.Sprintf("\t\tmember ajp://{AJP}/share route=tomcat1\n")
	m2 := fmt.Sprintf("\t\tmember ajp://127.0.0.1:%d/share route=tomcat2\n", other)
	m1moved := fmt.Sprintf("\t\tmember ajp://127.0.0.1:%d/share route=tomcat1\n", third)
	admin := inProcessAdmin()

	loadCaddyfile(t, site(m1+m2))
	for _, c := range []struct {
		path, body string
		want       int
	}{
		{"nope/members/tomcat1", `{"status": "drain"}`, 404},
		{"orphans/members/tomcat9", `{"status": "drain"}`, 404},
		{"orphans/members/tomcat2", `{"status": "asleep"}`, 400},
		{"orphans/members/tomcat2", `{"status": `, 400},
		{"orphans/members/tomcat2", `{"loadfactor": 1000}`, 400},
	} {
		resp, err := http.Post("http://"+admin+"/ajp/balancers/"+c.path, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || !strings.Contains(string(b), `"error"`) {
			t.Errorf("POST %s %s: %d %s, want %d with a JSON error", c.path, c.body, resp.StatusCode, b, c.want)
		}
	}
	if code := rtSet(t, admin, "orphans", "tomcat1", `{"status": "drain"}`); code != 200 {
		t.Fatalf("drain: %d", code)
	}
	b, err := rtGet(admin, "orphans")
	if err != nil || b.member("tomcat1").Status != "drain" || b.member("tomcat2").Status != "active" || b.member("tomcat2").Override != nil {
		t.Fatalf("after the drain: %+v %v", b, err)
	}

	loadCaddyfile(t, site(m2)) // tomcat1 removed
	b, err = rtGet(admin, "orphans")
	if err != nil || len(b.Orphaned) != 1 || b.Orphaned[0].Route != "tomcat1" || !strings.Contains(b.Orphaned[0].Reason, "no member") {
		t.Fatalf("tomcat1 removed: orphans %+v %v", b.Orphaned, err)
	}

	loadCaddyfile(t, site(m1moved+m2)) // tomcat1 is another upstream now
	b, err = rtGet(admin, "orphans")
	if err != nil {
		t.Fatal(err)
	}
	if m := b.member("tomcat1"); m.Status != "active" || m.Override != nil {
		t.Errorf("the drain set for %s applies to the new upstream of tomcat1: %+v", tomcat.AJPAddr(), m)
	}
	if len(b.Orphaned) != 1 || !strings.Contains(b.Orphaned[0].Reason, tomcat.AJPAddr()) {
		t.Errorf("orphans %+v, want tomcat1's override reported as set for %s", b.Orphaned, tomcat.AJPAddr())
	}
	// clearing it removes the orphan
	if code := rtSet(t, admin, "orphans", "tomcat1", `{"status": null}`); code != 200 {
		t.Fatalf("clear: %d", code)
	}
	if b, _ = rtGet(admin, "orphans"); len(b.Orphaned) != 0 {
		t.Errorf("orphans after clearing: %+v", b.Orphaned)
	}
}

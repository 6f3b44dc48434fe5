package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/ajptransport"
	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

// reloadMember is one `member` line of an ajp_balancer config.
type reloadMember struct {
	node   int    // index into the cluster's nodes
	params string // extra key=value parameters, e.g. "status=+N"
}

// reloadConfig is one of the configs the hot-reload test switches between.
type reloadConfig struct {
	name    string
	members []reloadMember
	drained int // index of the member node drained with status=+N, or -1
}

// balancerSite renders the site of a reloadConfig.
func balancerSite(nodes []*tomcattest.Node, c reloadConfig) string {
	var b strings.Builder
	b.WriteString("http://127.0.0.1:{HTTP_PORT} {\n\tajp_balancer /share* {\n")
	for _, m := range c.members {
		fmt.Fprintf(&b, "\t\tmember ajp://%s/share route=%s %s\n", nodes[m.node].AJPAddr(), nodes[m.node].Name(), m.params)
	}
	b.WriteString("\t\tsecret {env.AJP_TEST_SECRET}\n\t}\n}\n")
	return b.String()
}

// postLoad loads a Caddyfile (globals + sites) through the real admin API,
// as `caddy reload` does.
func postLoad(sites string) (int, string, time.Duration, error) {
	start := time.Now()
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Post(fmt.Sprintf("http://127.0.0.1:%d/load", adminPort), "text/caddyfile", strings.NewReader(expand(globals+sites)))
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), time.Since(start), nil
}

// reqError is a failed load request: either no HTTP response at all
// (noResponse, with whether the client reused a keep-alive connection for
// its last attempt) or a response that is not a 200 with a valid body.
type reqError struct {
	noResponse bool
	reused     bool
	err        error
}

func (e *reqError) Error() string {
	if e.noResponse {
		return fmt.Sprintf("no response (client connection reused: %v): %v", e.reused, e.err)
	}
	return e.err.Error()
}

// fetch GETs a path of the site and reads the whole body.
func fetch(c *http.Client, path string) (int, []byte, *reqError) {
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		http.MethodGet, httpBase+path, nil)
	if err != nil {
		return 0, nil, &reqError{err: err}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, &reqError{noResponse: true, reused: reused, err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, body, &reqError{noResponse: true, reused: reused, err: fmt.Errorf("reading the body: %w", err)}
	}
	return resp.StatusCode, body, nil
}

// getSession GETs session.jsp and checks for a 200 carrying its JSON with a
// count, a known node and an id.
func getSession(c *http.Client, nodeNames map[string]bool) (sessionView, *reqError) {
	var v sessionView
	status, body, rerr := fetch(c, "/share/session.jsp")
	if rerr != nil {
		return v, rerr
	}
	if status != 200 {
		return v, &reqError{err: fmt.Errorf("session.jsp: status %d: %.200q", status, body)}
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Count < 1 || !nodeNames[v.Node] || v.ID == "" {
		return v, &reqError{err: fmt.Errorf("session.jsp: 200 with an invalid body %.200q", body)}
	}
	return v, nil
}

// getTiny GETs tiny.jsp and checks for a 200 with "hello".
func getTiny(c *http.Client) *reqError {
	status, body, rerr := fetch(c, "/share/tiny.jsp")
	if rerr != nil {
		return rerr
	}
	if status != 200 || string(body) != "hello" {
		return &reqError{err: fmt.Errorf("tiny.jsp: status %d, body %.200q", status, body)}
	}
	return nil
}

// TestHotReloadDropsNoRequest keeps 16 sticky clients busy while the config
// is reloaded 20 times through POST /load, changing the balancer's members
// each time (a node added, one drained, loadfactors, back to the original).
// No request may fail, no session may lose its count, every reload must
// succeed, drained members must take no new session but keep their own, and
// the AJP connections of the old configs must be closed.
//
// The third node is a member of the same replication cluster as the other
// two, not a standalone Tomcat: several configs remove it again, and the
// sessions bound to it then continue on tomcat1 or tomcat2. A standalone
// node would lose those sessions (their counts would restart at 1) by
// design, which would make the "no count goes backwards" check meaningless
// for exactly the clients it should cover.
func TestHotReloadDropsNoRequest(t *testing.T) {
	skipIfShort(t)
	migrateQueuedConnections(t)
	nodes := tomcattest.StartClusterT(t,
		tomcattest.Options{Name: "tomcat1", AJPPort: tomcattest.FreePort(t), Secret: secret},
		tomcattest.Options{Name: "tomcat2", AJPPort: tomcattest.FreePort(t), Secret: secret},
		tomcattest.Options{Name: "tomcat3", AJPPort: tomcattest.FreePort(t), Secret: secret},
	)
	nodeNames := map[string]bool{}
	for _, n := range nodes {
		nodeNames[n.Name()] = true
	}

	original := reloadConfig{name: "original 1+2", members: []reloadMember{{0, ""}, {1, ""}}, drained: -1}
	configs := []reloadConfig{
		{name: "add tomcat3", members: []reloadMember{{0, ""}, {1, ""}, {2, ""}}, drained: -1},
		{name: "drain tomcat2", members: []reloadMember{{0, ""}, {1, "status=+N"}, {2, ""}}, drained: 1},
		original,
		{name: "loadfactor tomcat1=3 with tomcat3", members: []reloadMember{{0, "loadfactor=3"}, {1, ""}, {2, ""}}, drained: -1},
		{name: "loadfactor tomcat2=2, tomcat3 removed", members: []reloadMember{{0, ""}, {1, "loadfactor=2"}}, drained: -1},
		{name: "drain tomcat1 with tomcat3", members: []reloadMember{{0, "status=+N"}, {1, ""}, {2, ""}}, drained: 0},
		original,
		{name: "add tomcat3 as hot standby", members: []reloadMember{{0, ""}, {1, ""}, {2, "status=+H"}}, drained: -1},
		{name: "add tomcat3", members: []reloadMember{{0, ""}, {1, ""}, {2, ""}}, drained: -1},
		{name: "drain tomcat2, no tomcat3", members: []reloadMember{{0, ""}, {1, "status=+N"}}, drained: 1},
		original,
		{name: "tomcat3 first, loadfactor 2", members: []reloadMember{{2, "loadfactor=2"}, {0, ""}, {1, ""}}, drained: -1},
		{name: "drain tomcat1, tomcat2 loadfactor 2", members: []reloadMember{{0, "status=+N"}, {1, "loadfactor=2"}, {2, ""}}, drained: 0},
		{name: "loadfactor tomcat1=2", members: []reloadMember{{0, "loadfactor=2"}, {1, ""}}, drained: -1},
		original,
		{name: "add tomcat3", members: []reloadMember{{0, ""}, {1, ""}, {2, ""}}, drained: -1},
		{name: "drain tomcat2", members: []reloadMember{{0, ""}, {1, "status=+N"}, {2, ""}}, drained: 1},
		{name: "tomcat2 stopped (+S) while tomcat3 serves", members: []reloadMember{{0, ""}, {1, "status=+S"}, {2, ""}}, drained: -1},
		{name: "members reordered", members: []reloadMember{{1, ""}, {0, ""}}, drained: -1},
		original,
	}
	if len(configs) != 20 {
		t.Fatalf("%d reload configs, want 20", len(configs))
	}

	connsBefore := ajptransport.OpenConnections()
	logOff := logOffset(t)
	loadCaddyfile(t, balancerSite(nodes, original))

	// Clients bound to tomcat1 and tomcat2 before the load starts, to check
	// that a drained node keeps serving its own sessions.
	bound := map[int]*http.Client{}
	boundCount := map[int]int{}
	for tries := 0; len(bound) < 2; tries++ {
		if tries == 40 {
			t.Fatalf("could not create a session on each of tomcat1 and tomcat2 in 40 tries (have %v)", boundCount)
		}
		c := newSessionClient(t)
		v, err := getSession(c, nodeNames)
		if err != nil {
			t.Fatalf("before the load: %v", err)
		}
		for i, n := range nodes[:2] {
			if v.Node == n.Name() && bound[i] == nil {
				bound[i], boundCount[i] = c, v.Count
			}
		}
	}

	// The load: sticky clients alternating session.jsp and tiny.jsp.
	const clients = 16
	var (
		requests, failed, backwards, doubled atomic.Int64
		reloadNo                             atomic.Int64 // the reload in progress or last done
		errMu                                sync.Mutex
		errs                                 []string
		stop                                 = make(chan struct{})
		wg                                   sync.WaitGroup
	)
	started := time.Now()
	record := func(kind string, client int, format string, args ...any) {
		errMu.Lock()
		defer errMu.Unlock()
		if len(errs) < 30 {
			errs = append(errs, fmt.Sprintf("+%.3fs reload #%d client %d %s: %s",
				time.Since(started).Seconds(), reloadNo.Load(), client, kind, fmt.Sprintf(format, args...)))
		}
	}
	// failures by kind: a response that is not a 200 with a valid body
	// (Caddy answered, e.g. 502), or no response on a fresh or a reused
	// client connection
	var badStatus, noRespFresh, noRespReused atomic.Int64
	fail := func(client int, err *reqError) {
		failed.Add(1)
		switch {
		case !err.noResponse:
			badStatus.Add(1)
		case err.reused:
			noRespReused.Add(1)
		default:
			noRespFresh.Add(1)
		}
		record("failed", client, "%v", err)
	}
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := newSessionClient(t)
			prev, base := 0, ""
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, err := getSession(c, nodeNames)
				requests.Add(1)
				switch {
				case err != nil:
					fail(i, err)
				case prev > 0 && (v.Count <= prev || sessionBase(v.ID) != base):
					backwards.Add(1)
					record("backwards", i, "count %d (%s on %s) after %d (%s)", v.Count, v.ID, v.Node, prev, base)
				case v.Count > prev+1:
					doubled.Add(1)
					record("doubled", i, "count %d (%s on %s) after %d", v.Count, v.ID, v.Node, prev)
				}
				if err == nil {
					prev, base = v.Count, sessionBase(v.ID)
				}
				if err := getTiny(c); err != nil {
					fail(i, err)
				}
				requests.Add(1)
			}
		}(i)
	}
	// sample the open AJP connections while the load runs
	var maxConns atomic.Int64
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if n := ajptransport.OpenConnections(); n > maxConns.Load() {
					maxConns.Store(n)
				}
			}
		}
	}()
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
			<-samplerDone
		}
	}
	defer stopLoad()

	time.Sleep(time.Second) // the load gets going on the original config
	connsLoaded := ajptransport.OpenConnections()

	var badReloads []string
	var drainNewOnDrained, drainNewChecked, drainBoundChecked int
	var drainErrs []string
	for i, c := range configs {
		reloadNo.Store(int64(i + 1))
		status, body, took, err := postLoad(balancerSite(nodes, c))
		if err != nil || status != 200 {
			badReloads = append(badReloads, fmt.Sprintf("reload #%d (%s): status %d, %v: %.300s", i+1, c.name, status, err, body))
		}
		t.Logf("reload #%2d %-42s -> %d in %4dms; %d requests so far, %d failed; %d AJP connections open",
			i+1, c.name, status, took.Milliseconds(), requests.Load(), failed.Load(), ajptransport.OpenConnections())
		if c.drained >= 0 && status == 200 {
			drained := nodes[c.drained].Name()
			// new sessions must go elsewhere
			for k := 0; k < 8; k++ {
				v, err := getSession(newSessionClient(t), nodeNames)
				drainNewChecked++
				switch {
				case err != nil:
					drainErrs = append(drainErrs, fmt.Sprintf("reload #%d: new session: %v", i+1, err))
				case v.Count != 1:
					drainErrs = append(drainErrs, fmt.Sprintf("reload #%d: new cookie jar got count %d", i+1, v.Count))
				case v.Node == drained:
					drainNewOnDrained++
					drainErrs = append(drainErrs, fmt.Sprintf("reload #%d: new session %s created on drained %s", i+1, v.ID, drained))
				}
			}
			// its own sessions stay on it
			for k := 0; k < 3; k++ {
				v, err := getSession(bound[c.drained], nodeNames)
				drainBoundChecked++
				if err != nil {
					drainErrs = append(drainErrs, fmt.Sprintf("reload #%d: session bound to drained %s: %v", i+1, drained, err))
					continue
				}
				if v.Node != drained || v.Count != boundCount[c.drained]+1 {
					drainErrs = append(drainErrs, fmt.Sprintf("reload #%d: session bound to drained %s answered %+v, want count %d on %s",
						i+1, drained, v, boundCount[c.drained]+1, drained))
				}
				boundCount[c.drained] = v.Count
			}
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The last config is the original: two pools. Let the load settle on it.
	time.Sleep(2 * time.Second)
	connsSettled := ajptransport.OpenConnections()
	pools := int64(len(configs[len(configs)-1].members))
	stopLoad()
	elapsed := time.Since(started)
	connsStopped := ajptransport.OpenConnections()

	// Unload every AJP proxy: all connections and transport goroutines go.
	status, body, _, err := postLoad("http://127.0.0.1:{HTTP_PORT} {\n\trespond \"no proxy here\"\n}\n")
	if err != nil || status != 200 {
		t.Errorf("loading the config without AJP: status %d, %v: %s", status, err, body)
	}
	connsUnloaded, leftGoroutines := waitTransportGone()

	t.Logf("hot reload under load: %d clients, %.1fs, %d requests, %d reloads (%d failed); failed requests %d, counts backwards %d, double-counted %d",
		clients, elapsed.Seconds(), requests.Load(), len(configs), len(badReloads), failed.Load(), backwards.Load(), doubled.Load())
	t.Logf("failed requests by kind: %d answered with a bad status or body, %d without a response on a fresh client connection, %d without a response on a reused one",
		badStatus.Load(), noRespFresh.Load(), noRespReused.Load())
	t.Logf("AJP connections: %d before the test, %d under load on the first config, max %d during the reloads, %d settled on the last config (%d pools), %d after the load stopped, %d after unloading the proxy",
		connsBefore, connsLoaded, maxConns.Load(), connsSettled, pools, connsStopped, connsUnloaded)
	t.Logf("drain checks: %d new sessions (%d on the drained node), %d requests of bound sessions", drainNewChecked, drainNewOnDrained, drainBoundChecked)
	for _, e := range errs {
		t.Log(e)
	}

	if failed.Load() != 0 {
		// what Caddy said about the failed requests
		logs, _ := logSince(t, logOff)
		n := 0
		for _, line := range strings.Split(logs, "\n") {
			// an old server still busy when its grace period ends logs "server shutdown"
			if strings.Contains(line, `"level":"error"`) && !strings.Contains(line, `"msg":"server shutdown"`) && n < 20 {
				t.Logf("caddy: %.700s", line)
				n++
			}
		}
	}
	for _, r := range badReloads {
		t.Error(r)
	}
	if failed.Load() != 0 || backwards.Load() != 0 || doubled.Load() != 0 {
		t.Errorf("during the reloads: %d failed requests (%d answered by Caddy with a bad status or body, %d without a response on a fresh client connection, %d on a reused one), %d session counts that went backwards, %d double-counted; want 0, 0, 0",
			failed.Load(), badStatus.Load(), noRespFresh.Load(), noRespReused.Load(), backwards.Load(), doubled.Load())
	}
	for _, e := range drainErrs {
		t.Error(e)
	}
	if limit := pools * clients; connsSettled > limit {
		t.Errorf("%d AJP connections open after settling on the last config, want at most %d (%d pools × %d clients): the old configs' pools are not closed",
			connsSettled, limit, pools, clients)
	}
	if connsUnloaded != 0 || leftGoroutines != "" {
		t.Errorf("5 s after loading a config without AJP: %d AJP connections open (want 0); transport goroutines:\n%s", connsUnloaded, leftGoroutines)
	}
}

// migrateQueuedConnections turns on Linux's tcp_migrate_req for the test,
// as the README advises for production: Caddy opens a new listening socket
// (SO_REUSEPORT) for each config, and without it the kernel resets the
// connections still queued on the old socket when that closes.
func migrateQueuedConnections(t *testing.T) {
	const knob = "/proc/sys/net/ipv4/tcp_migrate_req"
	old, err := os.ReadFile(knob)
	if err != nil {
		t.Logf("%s: %v (kernel older than 5.14?)", knob, err)
		return
	}
	if err := os.WriteFile(knob, []byte("1"), 0o644); err != nil {
		t.Logf("cannot set %s (not root?): %v; connections queued at a reload may be reset", knob, err)
		return
	}
	t.Cleanup(func() { _ = os.WriteFile(knob, old, 0o644) })
}

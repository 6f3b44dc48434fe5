package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

// The tests of issue 12 against real Tomcat: what ejects a node from
// ajp_balancer (its own faults only: dead, hung, not yet serving) and what
// does not (busy, a short pause, a servlet's unrelayable response, a full
// pool, another site's wrong secret), and WebSocket to the members' HTTP
// connectors. They log what they measure; the bounds are generous, the
// numbers are in the logs.

// loadQuietly is loadCaddyfile with Caddy logging at INFO instead of DEBUG.
// What these tests count is INFO or above (the active checker's "HTTP
// request failed" and "host is up", the transport's warnings), and at DEBUG
// their loads write over 100 MiB, where Caddy rolls the log file over and
// the offsets of logSince no longer hold.
func loadQuietly(t *testing.T, sites string) {
	t.Helper()
	skipIfShort(t)
	tc := caddytest.NewTester(t)
	cfg := expand(strings.Replace(globals, "level DEBUG", "level INFO", 1) + sites)
	if cfg == expand(globals+sites) {
		t.Fatal("the globals no longer set level DEBUG: update loadQuietly")
	}
	tc.InitServer(cfg, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
}

// logEntry is one line of Caddy's JSON log, the fields these tests read.
type logEntry struct {
	TS       float64 `json:"ts"`
	Level    string  `json:"level"`
	Logger   string  `json:"logger"`
	Msg      string  `json:"msg"`
	Host     string  `json:"host"`
	Upstream string  `json:"upstream"`
	Error    string  `json:"error"`
}

func (e logEntry) time() time.Time {
	sec, frac := math.Modf(e.TS)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// logEntries parses what Caddy logged after off.
func logEntries(t *testing.T, off int64) []logEntry {
	t.Helper()
	text, _ := logSince(t, off)
	var out []logEntry
	for _, l := range strings.Split(text, "\n") {
		var e logEntry
		if json.Unmarshal([]byte(l), &e) == nil && e.Msg != "" {
			out = append(out, e)
		}
	}
	return out
}

// failedChecks are the active health checks of addr that failed (Caddy logs
// each as "HTTP request failed" with the host), in time order.
func failedChecks(entries []logEntry, addr string) []time.Time {
	var out []time.Time
	for _, e := range entries {
		if e.Msg == "HTTP request failed" && e.Host == addr {
			out = append(out, e.time())
		}
	}
	return out
}

// countMsg counts log entries whose message contains msg.
func countMsg(entries []logEntry, msg string) int {
	n := 0
	for _, e := range entries {
		if strings.Contains(e.Msg, msg) {
			n++
		}
	}
	return n
}

// sample is one request of a load: when it started, how long it took, what
// came back.
type sample struct {
	client int
	start  time.Time
	dur    time.Duration
	view   sessionView
	err    error
}

// recorder collects the samples of a load.
type recorder struct {
	mu      sync.Mutex
	samples []sample
}

func (r *recorder) add(s sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

func (r *recorder) all() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sample(nil), r.samples...)
}

// sessionLoad runs clients session.jsp sessions (one cookie jar each, one
// request at a time, pause between requests) until stop is closed.
func sessionLoad(t *testing.T, clients int, pause time.Duration, stop <-chan struct{}, rec *recorder) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newSessionClient(t)
			c.Timeout = 30 * time.Second
			defer c.CloseIdleConnections()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				v, _, err := hit(c, sessionJSP())
				rec.add(sample{client: i, start: start, dur: time.Since(start), view: v, err: err})
				time.Sleep(pause)
			}
		}()
	}
	return &wg
}

// newSessionProbe makes a new session every interval (a fresh client each,
// one at a time) until stop is closed.
func newSessionProbe(t *testing.T, interval time.Duration, stop <-chan struct{}, rec *recorder) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			c := newSessionClient(t)
			c.Timeout = 30 * time.Second
			start := time.Now()
			v, _, err := hit(c, sessionJSP())
			c.CloseIdleConnections()
			rec.add(sample{client: -1, start: start, dur: time.Since(start), view: v, err: err})
			time.Sleep(interval)
		}
	}()
	return &wg
}

// newSessionStream starts a new session every interval, each in its own
// goroutine, so a hung request does not hold back the next: it shows when
// the balancer stops sending new sessions to a node.
func newSessionStream(t *testing.T, interval time.Duration, stop <-chan struct{}, rec *recorder) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := newSessionClient(t)
				c.Timeout = 30 * time.Second
				start := time.Now()
				v, _, err := hit(c, sessionJSP())
				c.CloseIdleConnections()
				rec.add(sample{client: -2, start: start, dur: time.Since(start), view: v, err: err})
			}()
		}
	}()
	return &wg
}

// checkSessions reports failed requests and sessions that lost their
// history (a new session id) among samples; counts off by one (a request
// counted by the node that then died, or a change not yet replicated) are
// only counted.
func checkSessions(samples []sample) (failed, reset, skewed int, firstErr string) {
	type state struct {
		id    string
		count int
	}
	last := map[int]state{}
	sort.SliceStable(samples, func(i, j int) bool { return samples[i].start.Before(samples[j].start) })
	for _, s := range samples {
		if s.err != nil {
			failed++
			if firstErr == "" {
				firstErr = s.err.Error()
			}
			continue
		}
		if s.client < 0 {
			continue
		}
		p, ok := last[s.client]
		switch {
		case !ok:
		case sessionBase(s.view.ID) != sessionBase(p.id):
			reset++
		case s.view.Count != p.count+1:
			skewed++
		}
		last[s.client] = state{s.view.ID, s.view.Count}
	}
	return
}

// rawCPing dials addr and exchanges CPING/CPONG, with its own code: the
// node's first CPONG, as the transport would see it.
func rawCPing(addr string, timeout time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{0x12, 0x34, 0x00, 0x01, 0x0A}); err != nil {
		return false
	}
	var b [5]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return false
	}
	return b == [5]byte{'A', 'B', 0x00, 0x01, 0x09}
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// --- 1. WebSocket ----------------------------------------------------------

// wsEcho opens a WebSocket to path through Caddy with the cookie header,
// sends msg in a masked text frame and returns the text of the answer.
func wsEcho(path, cookie, msg string) (string, error) {
	c, err := net.DialTimeout("tcp", httpAddr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + httpAddr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	if cookie != "" {
		req += "Cookie: " + cookie + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", fmt.Errorf("reading the handshake answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return "", fmt.Errorf("handshake: status %d: %q", resp.StatusCode, b)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
		return "", fmt.Errorf("Sec-WebSocket-Accept %q does not match the key", got)
	}
	// one masked text frame (client frames must be masked), payload < 126
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	frame := []byte{0x81, 0x80 | byte(len(msg))}
	frame = append(frame, mask[:]...)
	for i := 0; i < len(msg); i++ {
		frame = append(frame, msg[i]^mask[i%4])
	}
	if _, err := c.Write(frame); err != nil {
		return "", err
	}
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return "", fmt.Errorf("reading the echo frame: %w", err)
	}
	if h[0] != 0x81 || h[1]&0x80 != 0 {
		return "", fmt.Errorf("echo frame header % x, want an unmasked final text frame", h)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return "", err
		}
		n = int(binary.BigEndian.Uint16(l[:]))
	} else if n == 127 {
		return "", errors.New("echo frame too long")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return "", err
	}
	// close politely: a masked close frame with no payload
	_, _ = c.Write(append([]byte{0x88, 0x80}, mask[:]...))
	return string(p), nil
}

// cookieHeader is what c's jar sends to /share/ on the site.
func cookieHeader(c *http.Client) string {
	u, _ := url.Parse(httpBase + "/share/")
	var parts []string
	for _, ck := range c.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// getText GETs url with c and returns status and body.
func getText(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestWebSocketGoesToTheSessionsNodeOverHTTP: ajp_balancer with http=
// members sends a WebSocket handshake to the HTTP connector of the node that
// holds the session; when that node dies, a new WebSocket of the session
// opens on the other node.
func TestWebSocketGoesToTheSessionsNodeOverHTTP(t *testing.T) {
	nodes := balancerNodes(t, func(i int, o *tomcattest.Options) { o.HTTPPort = tomcattest.FreePort(t) })
	var b strings.Builder
	b.WriteString("http://127.0.0.1:{HTTP_PORT} {\n\tajp_balancer /share* {\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "\t\tmember ajp://%s/share route=%s http=127.0.0.1:%d\n", n.AJPAddr(), n.Name(), n.HTTPPort())
	}
	b.WriteString("\t\tstickysession JSESSIONID|jsessionid\n\t\tsecret {env.AJP_TEST_SECRET}\n\t}\n}\n")
	loadQuietly(t, b.String())

	c := newSessionClient(t)
	first, _, err := hit(c, sessionJSP())
	if err != nil {
		t.Fatal(err)
	}
	home, other := nodeNamed(nodes, first.Node)
	// ws.jsp over AJP, with the session: registers the endpoint on its node
	if st, body, err := getText(c, httpBase+"/share/ws.jsp"); err != nil || st != 200 || body != "ws "+home.Name() {
		t.Fatalf("ws.jsp: %d %q %v, want 200 %q", st, body, err, "ws "+home.Name())
	}
	got, err := wsEcho("/share/ws/echo", cookieHeader(c), "hello")
	if err != nil {
		t.Fatalf("WebSocket of the session on %s: %v", home.Name(), err)
	}
	if got != home.Name()+"|hello" {
		t.Fatalf("echo %q, want %q (the session's node)", got, home.Name()+"|hello")
	}
	t.Logf("WebSocket of session %s echoed by %s", first.ID, got)

	if err := home.Kill(); err != nil {
		t.Fatal(err)
	}
	// the session fails over over AJP; ws.jsp registers the endpoint there
	if st, body, err := getText(c, httpBase+"/share/ws.jsp"); err != nil || st != 200 || body != "ws "+other.Name() {
		t.Fatalf("ws.jsp after SIGKILL of %s: %d %q %v, want 200 %q", home.Name(), st, body, err, "ws "+other.Name())
	}
	start := time.Now()
	got, err = wsEcho("/share/ws/echo", cookieHeader(c), "again")
	if err != nil {
		t.Fatalf("WebSocket of the session after SIGKILL of %s: %v", home.Name(), err)
	}
	if got != other.Name()+"|again" {
		t.Fatalf("echo after failover %q, want %q", got, other.Name()+"|again")
	}
	t.Logf("after SIGKILL of %s: WebSocket of the session echoed by %s (handshake and echo %s)", home.Name(), got, time.Since(start).Round(time.Millisecond))
	// and the session itself went on over AJP
	if v, _, err := hit(c, sessionJSP()); err != nil || v.Node != other.Name() || sessionBase(v.ID) != sessionBase(first.ID) {
		t.Errorf("session after failover: %+v %v", v, err)
	}
}

// --- 2. Dead node ---------------------------------------------------------

// TestDeadNodeUnderLoadIsOutWithinOneCheck: a node SIGKILLed under load
// costs no request; Caddy's active CPING check reports it down within
// health_interval + ping_timeout, and requests stop going to it.
func TestDeadNodeUnderLoadIsOutWithinOneCheck(t *testing.T) {
	nodes := balancerNodes(t, nil)
	loadQuietly(t, balancerSiteFor("", nodes, "", ""))
	off := logOffset(t)
	const clients = 30
	stop := make(chan struct{})
	var rec recorder
	wg := sessionLoad(t, clients, 20*time.Millisecond, stop, &rec)
	pwg := newSessionProbe(t, 50*time.Millisecond, stop, &rec)
	time.Sleep(4 * time.Second)
	dead := nodes[0]
	killedAt := time.Now()
	if err := dead.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(8 * time.Second)
	close(stop)
	wg.Wait()
	pwg.Wait()

	samples := rec.all()
	failed, reset, skewed, firstErr := checkSessions(samples)
	entries := logEntries(t, off)
	checks := failedChecks(entries, dead.AJPAddr())
	var lastDial time.Time
	dials := 0
	for _, e := range entries {
		if e.Msg == "cannot connect to AJP backend" && e.Upstream == dead.AJPAddr() && e.time().After(killedAt) {
			dials++
			lastDial = e.time()
		}
	}
	var lastNew time.Time
	for _, s := range samples {
		if s.client < 0 && s.err == nil && s.view.Node == dead.Name() && s.start.After(lastNew) {
			lastNew = s.start
		}
	}
	t.Logf("%d clients, %d requests, %s SIGKILLed at +4s: failed %d, sessions reset %d, counts off %d",
		clients, len(samples), dead.Name(), failed, reset, skewed)
	if len(checks) == 0 || checks[0].Before(killedAt) {
		t.Fatalf("no failed active check of %s logged after the kill (%d before)", dead.AJPAddr(), len(checks))
	}
	out := checks[0].Sub(killedAt)
	t.Logf("dead node: first failed active check %s after the kill (%d failed checks in %s)", secs(out), len(checks), secs(8*time.Second))
	t.Logf("dead node: %d requests tried it after the kill (dial refused, retried elsewhere), the last %s after the kill; last new session served by it started %s before the kill",
		dials, secs(lastDial.Sub(killedAt)), secs(killedAt.Sub(lastNew)))
	if failed != 0 || reset != 0 {
		t.Errorf("failed requests %d (first: %s), sessions reset %d: want 0", failed, firstErr, reset)
	}
	// health_interval 1s + ping_timeout 2s, + 1s slack
	if out > 4*time.Second {
		t.Errorf("dead node reported down %s after the kill, want within 4s (interval 1s + ping 2s + slack)", secs(out))
	}
	// the first dial failure ejects it (passive, 5s), the active check keeps it out
	if dials > 0 && lastDial.Sub(killedAt) > 4*time.Second {
		t.Errorf("requests still tried the dead node %s after the kill", secs(lastDial.Sub(killedAt)))
	}
}

// --- 3. Hung node ---------------------------------------------------------

// TestHungNodeIsAvoidedAndComesBack: a node SIGSTOPped under load. Only the
// requests in flight at the stop (and those sent before the check noticed)
// wait for read_timeout, then fail over to the replicated session; new
// requests avoid the node within about interval + ping_timeout; after
// SIGCONT it takes new sessions again within about one interval once
// passive health (fail_duration) has forgotten its read timeouts.
func TestHungNodeIsAvoidedAndComesBack(t *testing.T) {
	nodes := balancerNodes(t, func(i int, o *tomcattest.Options) {
		// asynchronous replication: the survivor's requests must not wait
		// for acknowledgements from the stopped peer
		o.Cluster = &tomcattest.Cluster{ChannelSendOptions: 8}
	})
	const readTimeout = 5 * time.Second
	// timeout 10 (lb_try_duration): a request that waited read_timeout (5 s)
	// is retried on the other node only while the try duration lasts; with
	// the default 5 s it would be answered 504
	loadQuietly(t, balancerSiteFor("", nodes, "timeout=5", "\t\ttimeout 10\n"))
	hung := nodes[0]
	t.Cleanup(func() { _ = hung.Resume() })
	off := logOffset(t)
	const clients = 30
	stop := make(chan struct{})
	var rec recorder
	wg := sessionLoad(t, clients, 20*time.Millisecond, stop, &rec)
	pwg := newSessionProbe(t, 100*time.Millisecond, stop, &rec)
	swg := newSessionStream(t, 100*time.Millisecond, stop, &rec)
	time.Sleep(5 * time.Second)
	stoppedAt := time.Now()
	if err := hung.Pause(); err != nil {
		t.Fatal(err)
	}
	// long enough for every read timeout and its passive fail_duration (5 s)
	// to pass, so what brings the node back is the active check
	time.Sleep(14 * time.Second)
	resumedAt := time.Now()
	if err := hung.Resume(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second)
	close(stop)
	wg.Wait()
	pwg.Wait()
	swg.Wait()

	samples := rec.all()
	failed, reset, skewed, firstErr := checkSessions(samples)
	// requests that waited read_timeout: of the users (one at a time each)
	// and of the stream of new sessions (which does not wait for them)
	waited, waitedNew, lastSentToHung := 0, 0, time.Duration(-1)
	var lastTimeout time.Time
	for _, s := range samples {
		if s.dur >= readTimeout-100*time.Millisecond {
			if s.client == -2 {
				waitedNew++
			} else {
				waited++
			}
			if d := s.start.Sub(stoppedAt); d > lastSentToHung {
				lastSentToHung = d
			}
			if end := s.start.Add(readTimeout); end.After(lastTimeout) {
				lastTimeout = end
			}
		}
	}
	entries := logEntries(t, off)
	var checks []time.Time
	for _, c := range failedChecks(entries, hung.AJPAddr()) {
		if c.After(stoppedAt) {
			checks = append(checks, c)
		}
	}
	var up time.Time
	for _, e := range entries {
		if e.Msg == "host is up" && e.Host == hung.AJPAddr() && e.time().After(resumedAt) {
			up = e.time()
			break
		}
	}
	var back time.Time
	for _, s := range samples {
		if s.client < 0 && s.err == nil && s.view.Node == hung.Name() && s.start.After(resumedAt) {
			back = s.start
			break
		}
	}
	t.Logf("%d clients, %d requests, %s SIGSTOPped at +5s for 14s: failed %d, sessions reset %d, counts off %d",
		clients, len(samples), hung.Name(), failed, reset, skewed)
	t.Logf("hung node: %d user requests and %d of the new-session stream (one every 100ms) waited read_timeout (%s); "+
		"the last request sent to the hung node left %s after the stop; the last read timeout at +%s",
		waited, waitedNew, readTimeout, secs(lastSentToHung), secs(lastTimeout.Sub(stoppedAt)))
	if len(checks) == 0 {
		t.Fatalf("no failed active check of %s logged after SIGSTOP", hung.AJPAddr())
	}
	out := checks[0].Sub(stoppedAt)
	t.Logf("hung node: first failed active check %s after SIGSTOP (check logged when its ping_timeout ended)", secs(out))
	if back.IsZero() {
		t.Fatalf("no new session reached %s within 6s of SIGCONT", hung.Name())
	}
	t.Logf("hung node back: \"host is up\" %s, first new session on it %s after SIGCONT", secs(up.Sub(resumedAt)), secs(back.Sub(resumedAt)))
	if failed != 0 || reset != 0 {
		t.Errorf("failed requests %d (first: %s), sessions reset %d: want 0", failed, firstErr, reset)
	}
	if waited > clients+1 {
		t.Errorf("%d user requests waited read_timeout, want at most the %d clients (+1 probe): one each", waited, clients+1)
	}
	// the stream sends a new session every 100ms, round robin: until the
	// check notices (≤ ~3s) about every second one goes to the hung node
	if waitedNew > 25 {
		t.Errorf("%d new sessions waited read_timeout, want at most ~4s worth of them (20)", waitedNew)
	}
	if lastSentToHung > 4*time.Second {
		t.Errorf("requests were sent to the hung node until %s after SIGSTOP, want within 4s (interval 1s + ping 2s + slack)", secs(lastSentToHung))
	}
	if out > 4*time.Second {
		t.Errorf("hung node reported down %s after SIGSTOP, want within 4s", secs(out))
	}
	if back.Sub(resumedAt) > 3*time.Second {
		t.Errorf("new sessions reached the resumed node only %s after SIGCONT, want within 3s", secs(back.Sub(resumedAt)))
	}
}

// --- 4. Slow start --------------------------------------------------------

// TestSlowStartingNodeGetsNoRequestBeforeItServes: a node whose
// application takes 15 s to deploy binds its AJP port at once and answers
// nothing meanwhile. No user request waits for it or fails; it takes new
// sessions about one check after its first CPONG.
func TestSlowStartingNodeGetsNoRequestBeforeItServes(t *testing.T) {
	nodes := balancerNodes(t, func(i int, o *tomcattest.Options) {
		if i == 1 {
			o.Webapps = []tomcattest.Webapp{tomcattest.ShareWebapp(), tomcattest.SlowStartWebapp()}
		}
	})
	loadQuietly(t, balancerSiteFor("", nodes, "", ""))
	slow := nodes[1]
	const delay = 15 * time.Second
	if err := slow.SetStartupDelay(delay); err != nil {
		t.Fatal(err)
	}
	const clients = 20
	stop := make(chan struct{})
	var rec recorder
	wg := sessionLoad(t, clients, 20*time.Millisecond, stop, &rec)
	pwg := newSessionProbe(t, 50*time.Millisecond, stop, &rec)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
		pwg.Wait()
	}()
	time.Sleep(2 * time.Second)
	if err := slow.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	restartAt := time.Now()
	restarted := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		restarted <- slow.Restart(ctx)
	}()
	var firstCPong time.Time
	var firstAccept time.Time
	deadline := time.Now().Add(60 * time.Second)
	for firstCPong.IsZero() && time.Now().Before(deadline) {
		if firstAccept.IsZero() {
			if c, err := net.DialTimeout("tcp", slow.AJPAddr(), 100*time.Millisecond); err == nil {
				c.Close()
				firstAccept = time.Now()
			}
		}
		if rawCPing(slow.AJPAddr(), 200*time.Millisecond) {
			firstCPong = time.Now()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if firstCPong.IsZero() {
		t.Fatalf("%s never answered CPING after its restart", slow.Name())
	}
	var firstNew time.Time
	for time.Since(firstCPong) < 10*time.Second && firstNew.IsZero() {
		for _, s := range rec.all() {
			if s.client < 0 && s.err == nil && s.view.Node == slow.Name() && s.start.After(restartAt) {
				firstNew = s.start
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	pwg.Wait()

	samples := rec.all()
	failed, reset, skewed, firstErr := checkSessions(samples)
	over1s, during := 0, 0
	var worst time.Duration
	for _, s := range samples {
		if s.start.Before(restartAt) {
			continue
		}
		during++
		if s.dur > time.Second {
			over1s++
		}
		worst = max(worst, s.dur)
	}
	t.Logf("%d clients, %d requests, %s SIGKILLed at +2s and restarted at +4s with a %s deployment: failed %d, sessions reset %d, counts off %d",
		clients, len(samples), slow.Name(), delay, failed, reset, skewed)
	t.Logf("slow start: AJP port accepting %s after the restart, first CPONG %s after it",
		secs(firstAccept.Sub(restartAt)), secs(firstCPong.Sub(restartAt)))
	t.Logf("slow start: %d user requests from the restart on, %d waited over 1s (slowest %s)", during, over1s, worst.Round(time.Millisecond))
	if firstNew.IsZero() {
		t.Fatalf("no new session reached %s within 10s of its first CPONG", slow.Name())
	}
	t.Logf("slow start: first CPONG → first new session on it %s", secs(firstNew.Sub(firstCPong)))
	if failed != 0 || reset != 0 {
		t.Errorf("failed requests %d (first: %s), sessions reset %d: want 0", failed, firstErr, reset)
	}
	if over1s != 0 {
		t.Errorf("%d user requests waited over 1s while %s was starting, want 0", over1s, slow.Name())
	}
	if firstCPong.Sub(restartAt) < delay {
		t.Errorf("first CPONG %s after the restart, before the %s deployment ended: the test did not start slowly", secs(firstCPong.Sub(restartAt)), delay)
	}
	if d := firstNew.Sub(firstCPong); d > 3*time.Second {
		t.Errorf("first new session %s after the first CPONG, want within 3s (interval 1s + slack)", secs(d))
	}
}

// --- 5. Busy is not hung --------------------------------------------------

// tinyLoad runs clients keep-alive GETs of tiny.jsp until stop; it returns
// the number of requests, failures and the first failure.
func tinyLoad(clients int, stop <-chan struct{}) (reqs, fails *atomic.Int64, first *atomic.Value, slow *atomic.Int64, wg *sync.WaitGroup) {
	return tinyLoadFirst(clients, stop, new(atomic.Int64))
}

// tinyLoadFirst is tinyLoad that also counts, in slowFirst, the slow
// requests that were their client's first (connection set-up).
func tinyLoadFirst(clients int, stop <-chan struct{}, slowFirst *atomic.Int64) (reqs, fails *atomic.Int64, first *atomic.Value, slow *atomic.Int64, wg *sync.WaitGroup) {
	reqs, fails, slow = new(atomic.Int64), new(atomic.Int64), new(atomic.Int64)
	first = new(atomic.Value)
	wg = new(sync.WaitGroup)
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				st, body, err := getText(c, httpBase+"/share/tiny.jsp")
				reqs.Add(1)
				if time.Since(start) > 1500*time.Millisecond {
					slow.Add(1)
					if k == 0 {
						slowFirst.Add(1)
					}
				}
				if err != nil || st != 200 || body != "hello" {
					fails.Add(1)
					first.CompareAndSwap(nil, fmt.Sprintf("%d %q %v", st, body, err))
				}
			}
		}()
	}
	go func() { wg.Wait(); tr.CloseIdleConnections() }()
	return
}

// TestBusyOrBrieflyPausedNodeIsNotEjected: under as much load as this
// machine takes, no node fails its active check; a node paused for 2 s
// (SIGSTOP, SIGCONT) is counted with the failed checks it got. The default
// check (interval 1s, ping 2s) and the alternative (interval 500ms, ping
// 2.5s) are both measured.
func TestBusyOrBrieflyPausedNodeIsNotEjected(t *testing.T) {
	skipIfShort(t)
	nodes := []*tomcattest.Node{
		tomcattest.StartT(t, tomcattest.Options{Name: "tomcat1", AJPPort: tomcattest.FreePort(t), Secret: secret}),
		tomcattest.StartT(t, tomcattest.Options{Name: "tomcat2", AJPPort: tomcattest.FreePort(t), Secret: secret}),
	}
	t.Cleanup(func() { _ = nodes[0].Resume() })
	loadQuietly(t, balancerSiteFor("", nodes, "", ""))

	const heavy = 300
	off := logOffset(t)
	stop := make(chan struct{})
	slowFirst := new(atomic.Int64)
	reqs, fails, first, slow, wg := tinyLoadFirst(heavy, stop, slowFirst)
	time.Sleep(10 * time.Second)
	close(stop)
	wg.Wait()
	entries := logEntries(t, off)
	f1, f2 := len(failedChecks(entries, nodes[0].AJPAddr())), len(failedChecks(entries, nodes[1].AJPAddr()))
	t.Logf("busy: %d keep-alive clients on tiny.jsp for 10s: %d requests (%.0f/s), %d failed, %d over 1.5s (%d of them a client's first); failed active checks: %s %d, %s %d",
		heavy, reqs.Load(), float64(reqs.Load())/10, fails.Load(), slow.Load(), slowFirst.Load(), nodes[0].Name(), f1, nodes[1].Name(), f2)
	if fails.Load() != 0 {
		t.Errorf("%d requests failed under load (first: %v)", fails.Load(), first.Load())
	}
	if f1+f2 != 0 {
		t.Errorf("busy nodes failed %d + %d active checks, want 0: a busy node is not hung", f1, f2)
	}

	// pauses pauses tomcat1 for 2 s, n times, under a light load, and
	// returns the failed active checks of each pause; then stops it for 5 s
	// and returns how long after SIGSTOP the first check failed.
	pauses := func(label string) (per []int, out []time.Duration) {
		t.Helper()
		const n = 4
		const light = 30
		off := logOffset(t)
		stop := make(chan struct{})
		reqs, fails, first, slow, wg := tinyLoad(light, stop)
		time.Sleep(2 * time.Second)
		for i := 0; i < n; i++ {
			before := logOffset(t)
			if err := nodes[0].Pause(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			if err := nodes[0].Resume(); err != nil {
				t.Fatal(err)
			}
			// the checks running at SIGCONT end within ping_timeout; an
			// ejected node is back a check later
			time.Sleep(3500 * time.Millisecond)
			per = append(per, len(failedChecks(logEntries(t, before), nodes[0].AJPAddr())))
		}
		for i := 0; i < 1; i++ {
			before := logOffset(t)
			stoppedAt := time.Now()
			if err := nodes[0].Pause(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Second)
			if err := nodes[0].Resume(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Second)
			c := failedChecks(logEntries(t, before), nodes[0].AJPAddr())
			if len(c) == 0 {
				t.Errorf("%s: a node stopped for 5s failed no active check", label)
				continue
			}
			out = append(out, c[0].Sub(stoppedAt).Round(10*time.Millisecond))
		}
		close(stop)
		wg.Wait()
		entries := logEntries(t, off)
		total := len(failedChecks(entries, nodes[0].AJPAddr()))
		t.Logf("%s: %d pauses of 2s of %s under %d clients: failed active checks per pause %v; "+
			"stopped for 5s: first failed check %v after SIGSTOP; failed checks of %s %d, of %s %d in all; "+
			"requests %d, failed %d, over 1.5s %d (those that met the pause)",
			label, n, nodes[0].Name(), light, per, out, nodes[0].Name(), total, nodes[1].Name(),
			len(failedChecks(entries, nodes[1].AJPAddr())), reqs.Load(), fails.Load(), slow.Load())
		if fails.Load() != 0 {
			t.Errorf("%s: %d requests failed (first: %v)", label, fails.Load(), first.Load())
		}
		return per, out
	}
	sum := func(a []int) (n int) {
		for _, v := range a {
			n += v
		}
		return n
	}

	// The defaults (health_interval 500ms, ping_timeout 2.5s, fails 1): a
	// 2s pause ends at least 0.5s before any check's deadline, and a hung
	// node is out within 3s. (With 1s and 2s, a check sent just before a
	// pause timed out as the node resumed: 2 ejections in 15 pauses.)
	per, out := pauses("default check (health_interval 500ms, ping_timeout 2.5s)")
	if n := sum(per); n != 0 {
		t.Errorf("defaults: %d failed checks in %d 2s pauses (per pause %v), want 0", n, len(per), per)
	}
	for _, d := range out {
		if d > 3500*time.Millisecond {
			t.Errorf("defaults: a stopped node was reported down %s after SIGSTOP, want within 3.5s", d)
		}
	}
}

// --- 6. Only the node's fault counts ---------------------------------------

// routed is url's path with ;jsessionid=x.<route>: sticky_route sends it to
// that route's node (Tomcat ignores the unknown session id).
func routed(path, route, query string) string {
	u := httpBase + path + ";jsessionid=x." + route
	if query != "" {
		u += "?" + query
	}
	return u
}

// TestOnlyTheNodesOwnFaultsEjectIt: through ajp_balancer with its
// defaults (passive health, max_fails 1), responses HTTP cannot carry, a
// full connection pool and another site's wrong secret fail only their own
// requests: both nodes keep serving their own routes throughout.
func TestOnlyTheNodesOwnFaultsEjectIt(t *testing.T) {
	skipIfShort(t)
	nodes := []*tomcattest.Node{
		tomcattest.StartT(t, tomcattest.Options{Name: "tomcat1", AJPPort: tomcattest.FreePort(t), Secret: secret}),
		tomcattest.StartT(t, tomcattest.Options{Name: "tomcat2", AJPPort: tomcattest.FreePort(t), Secret: secret}),
	}
	wrongSite := strings.Replace(balancerSiteFor("localhost", nodes, "max=2 connectiontimeout=2", ""),
		"secret {env.AJP_TEST_SECRET}", "secret Wr0ng-"+secret, 1)
	loadQuietly(t, balancerSiteFor("", nodes, "max=2 connectiontimeout=2", "")+wrongSite)
	off := logOffset(t)

	// every 100 ms, each node through its own route: 200 from that node, or
	// (while the pool is full) the transport's own 503; never another node
	// and never "no upstreams available"
	type watchResult struct {
		ok, poolFull int
		bad          []string
	}
	var mu sync.Mutex
	var watch watchResult
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 15 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", routed("/share/echo.jsp", n.Name(), ""), nil)
				resp, err := c.Do(req)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				switch {
				case err != nil:
					watch.bad = append(watch.bad, fmt.Sprintf("%s: %v", n.Name(), err))
				case resp.StatusCode == 503 && string(body) == "Service Unavailable\n":
					watch.poolFull++
				case resp.StatusCode != 200:
					watch.bad = append(watch.bad, fmt.Sprintf("%s: status %d %.100q", n.Name(), resp.StatusCode, body))
				case !bytes.Contains(body, []byte(`"node":"`+n.Name()+`"`)):
					watch.bad = append(watch.bad, fmt.Sprintf("%s: served by another node", n.Name()))
				default:
					watch.ok++
				}
				mu.Unlock()
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}

	// responses HTTP cannot carry: 502 each, once, from the transport
	// (cl.jsp: Content-Length 9223372036854775807, the largest 19-digit
	// value, or 100, on a 5-byte body)
	bad := []string{"status.jsp|code=100", "status.jsp|code=101", "status.jsp|code=102", "status.jsp|code=199",
		"status.jsp|code=0", "status.jsp|code=1000", "status.jsp|code=65535",
		"cl.jsp|len=9223372036854775807", "cl.jsp|len=100"}
	// Content-Length values Tomcat 10.1 itself refuses to send: it logs the
	// NumberFormatException and drops the header, so these reach the
	// transport as plain 200s (its unit tests cover such headers); they
	// must not eject a node either way
	tomcatDrops := []string{"cl.jsp|len=9999999999999999999", "cl.jsp|len=12345678901234567890", "cl.jsp|len=abc"}
	c := &http.Client{Timeout: 15 * time.Second}
	for i, b := range append(bad, tomcatDrops...) {
		page, query, _ := strings.Cut(b, "|")
		n := nodes[i%2]
		st, body, err := getText(c, routed("/share/"+page, n.Name(), query))
		switch {
		case i >= len(bad):
			t.Logf("%s?%s: %d %q %v (Tomcat dropped the header)", page, query, st, body, err)
			if err != nil || (st != 200 && st != 502) {
				t.Errorf("%s?%s on %s: %d %q %v, want 200 (header dropped by Tomcat) or 502", page, query, n.Name(), st, body, err)
			}
		case err != nil || st != 502:
			t.Errorf("%s?%s on %s: %d %q %v, want 502", page, query, n.Name(), st, body, err)
		}
		// a GET right after, to each node, is served by that node
		for _, m := range nodes {
			st, body, err := getText(c, routed("/share/echo.jsp", m.Name(), ""))
			if err != nil || st != 200 || !strings.Contains(body, `"node":"`+m.Name()+`"`) {
				t.Errorf("after %s?%s: GET to %s: %d %.100q %v", page, query, m.Name(), st, body, err)
			}
		}
	}
	// max=2 and slow uploads: POSTs whose bodies dribble in for 4 s after
	// their first packet hold node 1's two connections; requests beyond wait
	// connectiontimeout (2 s) and get the pool's 503 at worst, and the node
	// stays in
	const uploads = 4
	var uwg sync.WaitGroup
	uploadStatus := make([]string, uploads)
	for i := 0; i < uploads; i++ {
		uwg.Add(1)
		go func() {
			defer uwg.Done()
			pr, pw := io.Pipe()
			go func() {
				// more than one AJP packet at once (the transport reads
				// the first packet before it takes a connection), then
				// the rest a byte at a time while Tomcat asks for it
				if _, err := pw.Write(bytes.Repeat([]byte{'a'}, 9000)); err != nil {
					return
				}
				for j := 0; j < 40; j++ {
					if _, err := pw.Write([]byte{'a'}); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", routed("/share/echo.jsp", nodes[0].Name(), ""), pr)
			req.ContentLength = 9040
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			if err != nil {
				uploadStatus[i] = err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			uploadStatus[i] = fmt.Sprint(resp.StatusCode)
			if resp.StatusCode == 200 && !bytes.Contains(b, []byte(`"bodyLength":9040`)) {
				uploadStatus[i] += " (body not 9040 bytes)"
			}
		}()
	}
	uwg.Wait()

	// the wrong secret of the other site: 502 there, 200 here
	wrongStatus := map[int]int{}
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest("GET", routed("/share/echo.jsp", nodes[i%2].Name(), ""), nil)
		req.Host = fmt.Sprintf("localhost:%d", httpPort)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		wrongStatus[resp.StatusCode]++
	}
	time.Sleep(5 * time.Second) // the watchers go on: no ejection shows up late
	close(stop)
	wg.Wait()

	entries := logEntries(t, off)
	unrelayable := countMsg(entries, "cannot be relayed")
	rejected := countMsg(entries, "rejected the secret")
	noUpstreams := countMsg(entries, "no upstreams available")
	var checks []int
	for _, n := range nodes {
		checks = append(checks, len(failedChecks(entries, n.AJPAddr())))
	}
	t.Logf("unrelayable responses: %d requests, %d log lines \"cannot be relayed\"", len(bad), unrelayable)
	t.Logf("max=2: %d slow uploads to %s: %v; watchers: %d served by their node, %d pool-full 503, %d bad",
		uploads, nodes[0].Name(), uploadStatus, watch.ok, watch.poolFull, len(watch.bad))
	t.Logf("wrong secret site: statuses %v; %d \"rejected the secret\" log lines; \"no upstreams available\" %d; failed active checks %v",
		wrongStatus, rejected, noUpstreams, checks)
	for i, b := range watch.bad {
		if i == 10 {
			break
		}
		t.Errorf("watcher: %s", b)
	}
	served := 0
	for _, st := range uploadStatus {
		switch st {
		case "200":
			served++
		case "503":
		default:
			t.Errorf("slow upload: %s, want 200 or the pool's 503", st)
		}
	}
	if served < 2 {
		t.Errorf("slow uploads %v: want at least the two that had the connections served", uploadStatus)
	}
	// logged once each: a retry would log again
	if unrelayable != len(bad) {
		t.Errorf("%d \"cannot be relayed\" log lines for %d requests, want one each (no retry)", unrelayable, len(bad))
	}
	if wrongStatus[502] != 6 {
		t.Errorf("wrong secret site: %v, want 6 × 502", wrongStatus)
	}
	if rejected != 6 {
		t.Errorf("%d \"rejected the secret\" log lines for 6 requests, want one each", rejected)
	}
	if noUpstreams != 0 {
		t.Errorf("\"no upstreams available\" logged %d times: a node was ejected", noUpstreams)
	}
	if checks[0]+checks[1] != 0 {
		t.Errorf("failed active checks %v, want none", checks)
	}
}

package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddy-ajp/caddy-ajp/manager"
	"github.com/caddy-ajp/caddy-ajp/tools/harness"
	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

// `go test ./integration -run Manager -update-screenshot` rewrites the
// README's picture of the page, docs/ajp-manager.png. Without it the test
// takes the screenshot all the same and checks it, but keeps it to itself.
var updateScreenshot = flag.Bool("update-screenshot", false, "write the manager page's screenshot to docs/ajp-manager.png")

// chromiumPath is Debian's chromium, which scripts/deps.sh installs.
const chromiumPath = "/usr/bin/chromium"

const (
	managerUser     = "admin"
	managerPassword = "manager-test-password"
)

// managerSite is the README's setup: a two-member balancer named app, and
// the manager page behind basic_auth (a cheap bcrypt cost: every page view
// checks the password).
func managerSite(t *testing.T, nodes []*tomcattest.Node) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(managerPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`
http://127.0.0.1:{HTTP_PORT} {
	route /balancer-manager* {
		basic_auth {
			%s %s
		}
		ajp_manager
	}
	ajp_balancer /share* {
		name app
		member ajp://%s/share route=tomcat1
		member ajp://%s/share route=tomcat2
		stickysession JSESSIONID|jsessionid
		secret {env.AJP_TEST_SECRET}
	}
}
`, managerUser, hash, nodes[0].AJPAddr(), nodes[1].AJPAddr())
}

// managerMembers reads balancer app from the in-process Caddy's admin API,
// by route.
func managerMembers(t *testing.T) map[string]manager.MemberView {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ajp/balancers/app", adminPort))
	if err != nil {
		t.Fatalf("admin API: %v", err)
	}
	defer resp.Body.Close()
	var v manager.BalancerView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("admin API GET /ajp/balancers/app: %d %v", resp.StatusCode, err)
	}
	out := map[string]manager.MemberView{}
	for _, m := range v.Members {
		out[m.Route] = m
	}
	return out
}

// managerReset returns a member to its configuration through the admin
// API: overrides outlive the test in Caddy's storage.
func managerReset(t *testing.T, route string) {
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/ajp/balancers/app/members/%s", adminPort, route),
		strings.NewReader(`{"status": null, "loadfactor": null}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("resetting %s: %v", route, err)
	} else {
		resp.Body.Close()
	}
}

// startBrowser starts a headless Chromium with an empty profile of its own
// and returns a tab's context. The test fails when Chromium cannot start,
// and when any process of this Chromium is left after the test.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is missing (run scripts/deps.sh or `apt-get install chromium`): %v", err)
	}
	profile := t.TempDir()
	var out bytes.Buffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1360, 420),
		chromedp.CombinedOutput(&out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills the browser and waits for it
		if t.Failed() {
			t.Logf("Chromium's output:\n%s", harness.Tail(out.String(), 30))
		}
		// every process started with this profile, the renderers too
		deadline := time.Now().Add(10 * time.Second)
		for {
			left := processesWith(profile)
			if len(left) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("Chromium processes left after the test: %v", left)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// the first run starts the browser, for as long as tab lives: no
	// timeout on it, one on everything after
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("Chromium did not start: %v\n%s", err, harness.Tail(out.String(), 30))
	}
	if len(processesWith(profile)) == 0 {
		t.Fatal("no Chromium process runs with the test's profile: the leak check would see nothing")
	}
	ctx, cancel := context.WithTimeout(tab, 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// processesWith lists the PIDs whose command line contains s.
func processesWith(s string) []string {
	var pids []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmd, err := os.ReadFile(d + "/cmdline")
		if err == nil && bytes.Contains(cmd, []byte(s)) {
			pids = append(pids, filepath.Base(d))
		}
	}
	return pids
}

// TestManagerPageDrainsANodeInARealBrowser: an operator opens the
// balancer-manager page in Chromium (basic_auth), sees both members, presses
// Drain on tomcat1; the page, the admin API and the traffic agree (new
// sessions avoid tomcat1, its own sessions stay). Forged POSTs from a plain
// client are refused and change nothing.
func TestManagerPageDrainsANodeInARealBrowser(t *testing.T) {
	skipIfShort(t)
	nodes := balancerNodes(t, nil)
	loadCaddyfile(t, managerSite(t, nodes))
	t.Cleanup(func() { managerReset(t, "tomcat1"); managerReset(t, "tomcat2") })
	pageURL := httpBase + "/balancer-manager"

	// both members healthy (CPING) before anything is judged
	deadline := time.Now().Add(30 * time.Second)
	for ms := managerMembers(t); !ms["tomcat1"].Healthy || !ms["tomcat2"].Healthy; ms = managerMembers(t) {
		if time.Now().After(deadline) {
			t.Fatalf("members not healthy within 30 s: %+v", ms)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// a session that lives on tomcat1, and some traffic for the counters
	var pinned *http.Client
	for i := 0; i < 40 && pinned == nil; i++ {
		c := newSessionClient(t)
		v, _, err := hit(c, sessionJSP())
		if err != nil {
			t.Fatal(err)
		}
		if v.Node == "tomcat1" {
			pinned = c
		}
	}
	if pinned == nil {
		t.Fatal("40 new sessions, none on tomcat1")
	}
	for i := 0; i < 3; i++ {
		if _, _, err := hit(pinned, sessionJSP()); err != nil {
			t.Fatal(err)
		}
	}

	ctx := startBrowser(t)
	auth := base64.StdEncoding.EncodeToString([]byte(managerUser + ":" + managerPassword))
	row := func(route string) string { return `[data-member="app/` + route + `"]` }
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return v
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders,
		network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Basic " + auth}}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS(row("tomcat2"))),
	); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	status1, status2, header := text(row("tomcat1")+" .st"), text(row("tomcat2")+" .st"), text("header")
	if status1 != "active" || status2 != "active" || !strings.Contains(header, "Signed in as "+managerUser) {
		t.Fatalf("before the drain: tomcat1 %q, tomcat2 %q, header %q", status1, status2, header)
	}

	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row("tomcat1")+` button[value="drain"]`)),
		chromedp.WaitVisible(chromedp.CSS(row("tomcat1")+" .st-drain")),
	); err != nil {
		t.Fatalf("pressing Drain: %v", err)
	}
	override, status2 := text(row("tomcat1")+` td[data-label="Status"] small`), text(row("tomcat2")+" .st")
	if !strings.Contains(override, "config: active") || !strings.Contains(override, "by admin (manager page)") || status2 != "active" {
		t.Errorf("after the drain the page says: tomcat1 %q, tomcat2 %q", override, status2)
	}
	ms := managerMembers(t)
	if m := ms["tomcat1"]; m.Status != "drain" || m.Override == nil || m.Override.By != "admin (manager page)" || ms["tomcat2"].Status != "active" {
		t.Fatalf("admin API after the drain: %+v", ms)
	}
	drainedAt := ms["tomcat1"].Override.SetAt

	// new sessions avoid the drained node; its own session stays on it
	for i := 0; i < 10; i++ {
		v, _, err := hit(newSessionClient(t), sessionJSP())
		if err != nil || v.Node != "tomcat2" {
			t.Fatalf("new session %d after the drain: %+v %v, want tomcat2", i, v, err)
		}
	}
	if v, _, err := hit(pinned, sessionJSP()); err != nil || v.Node != "tomcat1" || v.Count != 5 {
		t.Errorf("tomcat1's own session after the drain: %+v %v, want count 5 on tomcat1", v, err)
	}

	// the picture of the page for the README, with the counters of this run
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1360, 420),
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(chromedp.CSS(row("tomcat2"))),
	); err != nil {
		t.Fatalf("reloading the page: %v", err)
	}
	// the embedded style is in force (its hash is in the page's
	// Content-Security-Policy): a drained member's badge is bordered
	if border, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`getComputedStyle(document.querySelector('[data-member="app/tomcat1"] .st')).borderTopStyle`)); err != nil || border != "solid" {
		t.Errorf("the page's style is not applied (CSP?): border %q %v", border, err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if img, err := png.Decode(bytes.NewReader(shot)); err != nil || img.Bounds().Dx() < 800 {
		t.Fatalf("screenshot is not a page-sized PNG: %v", err)
	}
	// on a phone the members stack: nothing wider than the screen, the
	// buttons in reach
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Reload()); err != nil {
		t.Fatalf("phone-sized page: %v", err)
	}
	if fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`document.documentElement.scrollWidth <= window.innerWidth && document.querySelector('[data-member="app/tomcat2"] button[value="drain"]').getBoundingClientRect().right <= window.innerWidth`)); err != nil || !fits {
		t.Errorf("the page is wider than a 390 px phone screen (%v)", err)
	}
	if *updateScreenshot {
		if err := os.WriteFile("../../docs/ajp-manager.png", shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Forged POSTs from a plain client that has the password: another
	// site's Origin (with a genuine cookie and token), and no token.
	c := newSessionClient(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get, _ := http.NewRequest("GET", pageURL, nil)
	get.SetBasicAuth(managerUser, managerPassword)
	resp, err := c.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="token" value="([^"]+)"`).FindSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("GET the page from Go: %d, token found: %v", resp.StatusCode, m != nil)
	}
	tok := string(m[1])
	post := func(form url.Values, origin string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", pageURL, strings.NewReader(form.Encode()))
		req.SetBasicAuth(managerUser, managerPassword)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	stop2 := url.Values{"balancer": {"app"}, "route": {"tomcat2"}, "status": {"stopped"}, "token": {tok}}
	if code := post(stop2, "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("POST with another site's Origin: %d, want 403", code)
	}
	stop2.Del("token")
	if code := post(stop2, ""); code != http.StatusForbidden {
		t.Errorf("POST without the token: %d, want 403", code)
	}
	ms = managerMembers(t)
	if ms["tomcat2"].Status != "active" || ms["tomcat2"].Override != nil || ms["tomcat1"].Status != "drain" || !ms["tomcat1"].Override.SetAt.Equal(drainedAt) {
		t.Errorf("the forged POSTs changed something: %+v", ms)
	}
	// and the same client with the token and no foreign Origin may: the
	// refusals were for the forgery, not for the client
	stop2.Set("token", tok)
	if code := post(stop2, httpBase); code != http.StatusSeeOther || managerMembers(t)["tomcat2"].Status != "stopped" {
		t.Errorf("genuine POST from Go: %d", code)
	}
}

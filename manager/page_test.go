package manager

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-ajp/caddy-ajp/balancer"
)

const pageOrigin = "https://lb.example.com"

// pageRequest makes a request to the page at /balancer-manager as the
// basic_auth user admin (empty: no user).
func pageRequest(method, target, user string, form url.Values) *http.Request {
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, pageOrigin+target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, pageOrigin+target, nil)
	}
	r.RemoteAddr = "192.0.2.7:50000"
	repl := caddy.NewReplacer()
	if user != "" {
		repl.Set("http.auth.user.id", user)
	}
	return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
}

func serve(t *testing.T, p *Page, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := p.ServeHTTP(w, r, nil); err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	return w
}

var tokenField = regexp.MustCompile(`name="token" value="([^"]+)"`)

// openPage GETs the page and returns its session cookie and form token.
func openPage(t *testing.T, p *Page) (*http.Cookie, string, string) {
	t.Helper()
	w := serve(t, p, pageRequest("GET", "/balancer-manager", "admin", nil))
	if w.Code != 200 {
		t.Fatalf("GET: %d %s", w.Code, w.Body)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != sessionCookie || !cookies[0].HttpOnly ||
		cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Path != "/balancer-manager" || !cookies[0].Secure {
		t.Fatalf("session cookie: %+v", cookies)
	}
	m := tokenField.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no token in the page:\n%s", w.Body)
	}
	return cookies[0], m[1], w.Body.String()
}

func joinPageTest(t *testing.T) (*balancer.Balancer, []*balancer.Member) {
	t.Helper()
	balancer.UseStorage(&certmagic.FileStorage{Path: t.TempDir()}, zap.NewNop())
	b, ms := balancer.Join("page-test", []balancer.MemberConfig{
		{Route: "tomcat1", Upstream: "127.0.0.1:8010"},
		{Route: "tomcat2", Upstream: "127.0.0.1:8011", Weight: 3},
	}, balancer.JoinOptions{})
	t.Cleanup(b.Leave)
	return b, ms
}

func TestPageShowsEveryMemberWithFormsAndHeaders(t *testing.T) {
	_, ms := joinPageTest(t)
	ms[0].Routed()
	p := &Page{logger: zap.NewNop()}
	w := serve(t, p, pageRequest("GET", "/balancer-manager", "admin", nil))
	body := w.Body.String()
	for _, want := range []string{
		`<tbody data-member="page-test/tomcat1">`, `<tbody data-member="page-test/tomcat2">`,
		"127.0.0.1:8010", "127.0.0.1:8011", `data-status="active"`,
		`<meta http-equiv="refresh" content="5">`, `name="viewport"`, "Signed in as <strong>admin</strong>",
		`<button name="status" value="drain"`, `<button name="status" value="active" disabled`,
		`name="loadfactor" min="1" max="100" value="3"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("the page refers to an external resource")
	}
	h := w.Header()
	if h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		h.Get("Cache-Control") != "no-store" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("headers: %v", h)
	}
	if w := serve(t, p, pageRequest("GET", "/balancer-manager?refresh=0", "", nil)); strings.Contains(w.Body.String(), "http-equiv") {
		t.Error("?refresh=0 still refreshes")
	}
}

func TestPageEscapesWhatItShows(t *testing.T) {
	balancer.UseStorage(&certmagic.FileStorage{Path: t.TempDir()}, zap.NewNop())
	b, _ := balancer.Join("page-escape", []balancer.MemberConfig{
		{Route: `r"><script>x</script>`, Upstream: "127.0.0.1:8010"},
	}, balancer.JoinOptions{})
	defer b.Leave()
	w := serve(t, &Page{logger: zap.NewNop()}, pageRequest("GET", "/balancer-manager", `<b>mallory</b>`, nil))
	if body := w.Body.String(); strings.Contains(body, "<script>") || strings.Contains(body, "<b>mallory") {
		t.Errorf("unescaped input in the page:\n%s", body)
	}
}

func TestPagePostWithTokenChangesTheMember(t *testing.T) {
	_, ms := joinPageTest(t)
	core, logs := observer.New(zapcore.DebugLevel)
	p := &Page{logger: zap.New(core)}
	cookie, tok, _ := openPage(t, p)

	post := func(form url.Values) *httptest.ResponseRecorder {
		t.Helper()
		form.Set("token", tok)
		r := pageRequest("POST", "/balancer-manager?refresh=0", "admin", form)
		r.AddCookie(cookie)
		r.Header.Set("Origin", pageOrigin)
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		return serve(t, p, r)
	}
	w := post(url.Values{"balancer": {"page-test"}, "route": {"tomcat1"}, "status": {"drain"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/balancer-manager?refresh=0" {
		t.Fatalf("POST drain: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if ms[0].Status() != balancer.StatusDrain || ms[0].Override().By != "admin (manager page)" {
		t.Fatalf("tomcat1 after drain: %s %+v", ms[0].Status(), ms[0].Override())
	}
	l := logs.FilterMessage("balancer member changed").All()
	if len(l) != 1 || l[0].ContextMap()["by"] != "admin (manager page)" || l[0].ContextMap()["status_after"] != "drain" {
		t.Errorf("INFO line: %v", logs.All())
	}

	steps := []struct {
		form   url.Values
		status string
		weight int
	}{
		{url.Values{"status": {"active"}}, balancer.StatusActive, 0}, // back to the configuration
		{url.Values{"status": {"stopped"}}, balancer.StatusStopped, 0},
		{url.Values{"loadfactor": {" 7 "}}, balancer.StatusStopped, 7},
		{url.Values{"loadfactor": {""}}, balancer.StatusStopped, 0}, // the configuration's
		{url.Values{"status": {"standby"}}, balancer.StatusStandby, 0},
		{url.Values{"status": {"reset"}}, balancer.StatusActive, 0},
	}
	for _, s := range steps {
		s.form.Set("balancer", "page-test")
		s.form.Set("route", "tomcat1")
		if w := post(s.form); w.Code != http.StatusSeeOther || ms[0].Status() != s.status || ms[0].Weight() != s.weight {
			t.Errorf("%v: %d, status %s loadfactor %d; want %s %d", s.form, w.Code, ms[0].Status(), ms[0].Weight(), s.status, s.weight)
		}
	}
	if ms[0].Override() != nil {
		t.Errorf("after activate and reset an override is left: %+v", ms[0].Override())
	}

	for _, c := range []struct {
		form url.Values
		code int
	}{
		{url.Values{"balancer": {"nope"}, "route": {"tomcat1"}, "status": {"drain"}}, 404},
		{url.Values{"balancer": {"page-test"}, "route": {"tomcat9"}, "status": {"drain"}}, 404},
		{url.Values{"balancer": {"page-test"}, "route": {"tomcat2"}, "status": {"paused"}}, 400},
		{url.Values{"balancer": {"page-test"}, "route": {"tomcat2"}, "loadfactor": {"0"}}, 400},
		{url.Values{"balancer": {"page-test"}, "route": {"tomcat2"}, "loadfactor": {"101"}}, 400},
		{url.Values{"balancer": {"page-test"}, "route": {"tomcat2"}, "loadfactor": {"5x"}}, 400},
		{url.Values{"balancer": {"page-test"}, "route": {"tomcat2"}, "status": {"drain"}, "loadfactor": {"5"}}, 400},
		{url.Values{"balancer": {"page-test"}, "route": {"tomcat2"}}, 400},
	} {
		if w := post(c.form); w.Code != c.code || !strings.Contains(w.Body.String(), "Back to the balancer manager") {
			t.Errorf("%v: %d, want %d\n%s", c.form, w.Code, c.code, w.Body)
		}
	}
	if ms[1].Override() != nil {
		t.Error("refused changes changed tomcat2")
	}
}

func TestPageRefusesForgedPosts(t *testing.T) {
	_, ms := joinPageTest(t)
	core, logs := observer.New(zapcore.DebugLevel)
	p := &Page{logger: zap.New(core)}
	cookie, tok, _ := openPage(t, p)
	other, otherTok, _ := openPage(t, p)
	if otherTok == tok {
		t.Fatal("two sessions got the same token")
	}
	drain := url.Values{"balancer": {"page-test"}, "route": {"tomcat1"}, "status": {"drain"}}
	for _, c := range []struct {
		name    string
		token   string
		cookie  *http.Cookie
		headers map[string]string
	}{
		{"other origin", tok, cookie, map[string]string{"Origin": "https://evil.example"}},
		{"other scheme", tok, cookie, map[string]string{"Origin": "http://lb.example.com"}},
		{"null origin", tok, cookie, map[string]string{"Origin": "null"}},
		{"other referer", tok, cookie, map[string]string{"Referer": "https://evil.example/x"}},
		{"cross-site fetch", tok, cookie, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"same-site fetch", tok, cookie, map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"no token", "", cookie, nil},
		{"wrong token", tok[:len(tok)-2] + "xx", cookie, nil},
		{"another session's token", otherTok, cookie, nil},
		{"token without its cookie", tok, nil, nil},
		{"cookie of another session", tok, other, nil},
	} {
		form := url.Values{}
		for k, v := range drain {
			form[k] = v
		}
		if c.token != "" {
			form.Set("token", c.token)
		}
		r := pageRequest("POST", "/balancer-manager", "admin", form)
		if c.cookie != nil {
			r.AddCookie(c.cookie)
		}
		for k, v := range c.headers {
			r.Header.Set(k, v)
		}
		if w := serve(t, p, r); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", c.name, w.Code)
		}
	}
	if ms[0].Override() != nil || ms[0].Status() != balancer.StatusActive {
		t.Errorf("a refused POST changed tomcat1: %+v", ms[0].Override())
	}
	if n := logs.FilterMessage("balancer member changed").Len(); n != 0 {
		t.Errorf("%d change lines for refused POSTs", n)
	}
	// the same POST from the page itself goes through: what was refused was the forgery
	drain.Set("token", tok)
	r := pageRequest("POST", "/balancer-manager", "admin", drain)
	r.AddCookie(cookie)
	r.Header.Set("Referer", pageOrigin+"/balancer-manager")
	if w := serve(t, p, r); w.Code != http.StatusSeeOther || ms[0].Status() != balancer.StatusDrain {
		t.Errorf("genuine POST: %d, status %s", w.Code, ms[0].Status())
	}
}

func TestPageReadOnly(t *testing.T) {
	_, ms := joinPageTest(t)
	p := &Page{ReadOnly: true, logger: zap.NewNop()}
	w := serve(t, p, pageRequest("GET", "/status", "", nil))
	if body := w.Body.String(); w.Code != 200 || !strings.Contains(body, `data-member="page-test/tomcat2"`) ||
		strings.Contains(body, "<form") || strings.Contains(body, "token") || len(w.Result().Cookies()) != 0 {
		t.Fatalf("read-only page: %d cookies %v\n%s", w.Code, w.Result().Cookies(), body)
	}
	r := pageRequest("POST", "/status", "", url.Values{"balancer": {"page-test"}, "route": {"tomcat1"}, "status": {"drain"}})
	if w := serve(t, p, r); w.Code != http.StatusForbidden || ms[0].Override() != nil {
		t.Errorf("POST to a read-only page: %d, override %+v", w.Code, ms[0].Override())
	}
	if w := serve(t, p, pageRequest("DELETE", "/status", "", nil)); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", w.Code)
	}
}

func TestSelfURLStaysOnThisHost(t *testing.T) {
	for in, want := range map[string]string{
		"/balancer-manager":            "/balancer-manager",
		"/balancer-manager/?refresh=0": "/balancer-manager/?refresh=0",
		"//evil.example/x":             "/evil.example/x",
		"/a%20b":                       "/a%20b",
	} {
		r := httptest.NewRequest("GET", "http://lb"+in, nil)
		if got := selfURL(r); got != want {
			t.Errorf("selfURL(%q) = %q, want %q", in, got, want)
		}
	}
}

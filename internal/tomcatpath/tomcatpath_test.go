package tomcatpath

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestCheckRefusesSegmentsThatBecomeDotSegments(t *testing.T) {
	bad := []string{
		"/share/..;/examples/",
		"/share/..;/manager/text/list",
		"/share/.;/..;/examples/",
		"/share/..;jsessionid=x/examples/",
		"/share/%2E%2E;/examples/",
		"/share/%2e%2e/examples/",
		"/share/%2e%2E/",
		"/share/%2E.;y/examples/",
		"/share/.%2e/examples/",
		"/share/.;x/",
		"/share/%2e/",
		"/share/..;%2f..;/examples/",
		"/share/..%2f..%2fprivate/",
		"/share/..%5c..%5cprivate/",
		"/share/..\\private/",
		"/share/x/..;a=b;c=d/..;/private",
		"/share/;/..;/private",
		"/share/;/../private/", // Tomcat: /share//../private → /private
		"/share/;jsessionid=x/../private/",
		"/share/;x;y/../private/",
		"/share/x/;/../../private/",
	}
	for _, p := range bad {
		if err := Check(p); !errors.Is(err, ErrTraversal) {
			t.Errorf("Check(%q) = %v, want ErrTraversal", p, err)
		}
	}
}

func TestCheckKeepsLegitimatePaths(t *testing.T) {
	good := []string{
		"/",
		"/share/",
		"/share/page.jsp;jsessionid=5ACD0C8.tomcat1",
		"/share/a;x=1/b;y=2/c",
		"/share/file%2etxt",
		"/share/%252e%252e/x", // Tomcat decodes once: "%2e%2e" stays a name
		"/share/%C3%A9t%C3%A9/",
		"/share/日本語/",
		"/share/...;/x",
		"/share/..a/x",
		"/share/.hidden;v=1",
		"/share/./x",  // plain dot segments resolve the same everywhere
		"/share/../x", // (Caddy's path matchers clean them)
		"/share/%zz",  // bad escape: Tomcat itself answers 400
		"/share/x;jsessionid=1/../y",
		"/share/%3b/../x", // an encoded ";" is no parameter: both readings agree
		"/share/a;b/c/",
	}
	for _, p := range good {
		if err := Check(p); err != nil {
			t.Errorf("Check(%q) = %v, want nil", p, err)
		}
	}
}

func TestNormalizeFollowsTomcat(t *testing.T) {
	cases := map[string]string{
		"/share/..;/examples/":         "/examples/",
		"/share/.;/..;/examples/":      "/examples/",
		"/share/%2E%2E;/examples/":     "/examples/",
		"/share/a;x=1/b;y=2":           "/share/a/b",
		"/share//x":                    "/share/x",
		"/share/x/..":                  "/share/",
		"/share/file%2etxt":            "/share/file.txt",
		"/share/%252e":                 "/share/%2e",
		"/share/page.jsp;jsessionid=A": "/share/page.jsp",
	}
	for in, want := range cases {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/..", "/share/../..", "/share/%2f", "/share/%zz", "/share/a\\b", "relative", "/x%00"} {
		if got, err := Normalize(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Normalize(%q) = %q, %v; want ErrInvalid", in, got, err)
		}
	}
}

func TestPathParam(t *testing.T) {
	cases := []struct {
		path, name, want string
		ok               bool
	}{
		{"/share/x;jsessionid=ABC.tomcat1", "jsessionid", "ABC.tomcat1", true},
		{"/share/x;jsessionid=ABC.tomcat1/y", "jsessionid", "ABC.tomcat1", true},
		{"/share/x;a=1;jsessionid=Z.t2;b=2", "jsessionid", "Z.t2", true},
		{"/share;jsessionid=A.t1/x;jsessionid=B.t2", "jsessionid", "B.t2", true}, // last wins, as in Tomcat
		{"/share/x;JSESSIONID=A", "jsessionid", "", false},                       // names are case-sensitive
		{"/share/x", "jsessionid", "", false},
		{"/share/x;jsessionid", "jsessionid", "", false},
		{"/share/x;jsessionid=", "jsessionid", "", true},
	}
	for _, c := range cases {
		got, ok := PathParam(c.path, c.name)
		if got != c.want || ok != c.ok {
			t.Errorf("PathParam(%q, %q) = %q, %v; want %q, %v", c.path, c.name, got, ok, c.want, c.ok)
		}
	}
}

// FuzzCheckKeepsTomcatUnderTheMatchedPrefix holds Check against the model
// of Tomcat's normalisation: whenever Caddy's own path matcher puts a
// request under /share and Check lets it through, the path Tomcat serves is
// under /share too.
func FuzzCheckKeepsTomcatUnderTheMatchedPrefix(f *testing.F) {
	for _, s := range []string{
		"/share/..;/private/", "/share/%2e%2e;/private", "/share/.;/..;/private", "/share/x",
		"/share/..%2f..%2fprivate", "/share/..;jsessionid=x/private", "/share//..;//private",
		"/share/%252e%252e/", "/share/a/../../private", "/share;x/../private",
		"/share/;/../private/", "/share/x/;/../../private/",
	} {
		f.Add(s)
	}
	matcher := caddyhttp.MatchPath{"/share*"}
	if err := matcher.Provision(caddy.Context{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if raw == "" || raw[0] != '/' || strings.ContainsAny(raw, "?#") {
			return
		}
		path, err := url.PathUnescape(raw)
		if err != nil {
			return // Go's server rejects it before Caddy sees it
		}
		req := &http.Request{URL: &url.URL{Path: path, RawPath: raw}}
		repl := caddy.NewReplacer()
		req = req.WithContext(caddyhttpContext(req, repl))
		if !matcher.Match(req) {
			return
		}
		served, err := Normalize(raw)
		if err != nil {
			return // Tomcat answers 400
		}
		if Check(raw) != nil {
			return // refused by the transport
		}
		// Caddy's path matcher ignores case; whether "/SHARE" is the same
		// context is Tomcat's question (it says no), not a traversal.
		if !strings.HasPrefix(strings.ToLower(served), "/share") {
			t.Fatalf("%q matched /share* and passed Check, but Tomcat serves %q", raw, served)
		}
	})
}

// FuzzNormalizeFastPath holds the allocation-free shortcut to the full
// reading: a path it lets through unchanged is one the full reading leaves
// unchanged too.
func FuzzNormalizeFastPath(f *testing.F) {
	for _, s := range []string{
		"/", "/share", "/share/", "/share/page.jsp", "/share//x", "/share/./x", "/share/..",
		"/share/x/.", "/share/%2e", "/share/a\\b", "/share/.x/..y/...", "/Share/Page.JSP",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if p == "" || p[0] != '/' || strings.IndexByte(p, ';') >= 0 || !isNormal(p) {
			return
		}
		if got, err := normalize(p); err != nil || got != p {
			t.Fatalf("isNormal(%q) but the full reading gives %q, %v", p, got, err)
		}
	})
}

func TestNormalizeCommonPathsDoNotAllocate(t *testing.T) {
	for _, p := range []string{"/share/page/site/MyDashboard", "/share/res/css/app.css", "/share/", "/"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = Normalize(p) }); n != 0 {
			t.Errorf("Normalize(%q): %v allocations, want 0", p, n)
		}
	}
}

package pathmap

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func provisionPathMap(t *testing.T, m PathMap) *PathMap {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := m.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return &m
}

// serve runs the handler with a next handler that records the path it
// got and answers with the given headers.
func serve(t *testing.T, m *PathMap, target string, tlsOn bool, respHeaders http.Header) (gotPath, gotRaw string, rec *httptest.ResponseRecorder, err error) {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	if tlsOn {
		r.TLS = &tls.ConnectionState{}
	}
	rec = httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		gotPath, gotRaw = r.URL.Path, r.URL.EscapedPath()
		for k, v := range respHeaders {
			w.Header()[k] = append([]string(nil), v...)
		}
		w.WriteHeader(302)
		return nil
	})
	err = m.ServeHTTP(rec, r, next)
	return
}

func TestPathMapMapsTheFrontPrefixOntoTheMembersPath(t *testing.T) {
	m := provisionPathMap(t, PathMap{Prefix: "/app", BackendPrefix: "/share"})
	cases := map[string]string{
		"/app":                   "/share",
		"/app/":                  "/share/",
		"/app/x/y.jsp":           "/share/x/y.jsp",
		"/app;jsessionid=A.t1":   "/share;jsessionid=A.t1",
		"/app/x;jsessionid=A.t1": "/share/x;jsessionid=A.t1",
		"/app/a%20b":             "/share/a%20b",
		"/%61pp/x":               "/share/x", // the prefix only after decoding
		"/app/file%2etxt":        "/share/file%2etxt",
	}
	for in, want := range cases {
		_, raw, _, err := serve(t, m, in, false, nil)
		if err != nil || raw != want {
			t.Errorf("%s → %q (%v), want %q", in, raw, err, want)
		}
	}
	root := provisionPathMap(t, PathMap{Prefix: "", BackendPrefix: "/share"})
	if _, raw, _, _ := serve(t, root, "/x", false, nil); raw != "/share/x" {
		t.Errorf("root mapping: %q", raw)
	}
}

func TestPathMapRefusesWhatTomcatWouldReadElsewhere(t *testing.T) {
	m := provisionPathMap(t, PathMap{Prefix: "/share", BackendPrefix: "/share"})
	for target, status := range map[string]int{
		"/share/..;/private/":  400,
		"/share/;/../private/": 400,
		"/SHARE/x":             404, // Caddy's matchers ignore case; Tomcat's contexts do not
		"/shared/x":            404, // not at a segment boundary
	} {
		_, _, _, err := serve(t, m, target, false, nil)
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != status {
			t.Errorf("%s: %v, want %d", target, err, status)
		}
	}
}

func TestProxyPassReverseRewritesLocationsAndCookies(t *testing.T) {
	m := provisionPathMap(t, PathMap{Prefix: "/app", BackendPrefix: "/share", Reverse: true, Backends: []string{"localhost:8010", "localhost:8011"}})
	resp := http.Header{
		"Location":         {"http://localhost:8010/share/login.jsp?x=1"},
		"Content-Location": {"/share/x"},
		"Uri":              {"ajp://localhost:8011/share/y"},
		"Set-Cookie": {
			"JSESSIONID=ABC.tomcat1; Path=/share; HttpOnly",
			"a=1; Path=/share/sub; Domain=localhost",
			"b=2; Path=/other",
			"c=3",
		},
	}
	_, _, rec, err := serve(t, m, "https://front.example/app/", true, resp)
	if err != nil {
		t.Fatal(err)
	}
	h := rec.Header()
	if got := h.Get("Location"); got != "https://front.example/app/login.jsp?x=1" {
		t.Errorf("Location %q", got)
	}
	if got := h.Get("Content-Location"); got != "/app/x" {
		t.Errorf("Content-Location %q", got)
	}
	if got := h.Get("Uri"); got != "https://front.example/app/y" {
		t.Errorf("URI %q", got)
	}
	want := []string{
		"JSESSIONID=ABC.tomcat1; Path=/app; HttpOnly",
		"a=1; Path=/app/sub; Domain=front.example",
		"b=2; Path=/other",
		"c=3",
	}
	for i, c := range h.Values("Set-Cookie") {
		if c != want[i] {
			t.Errorf("Set-Cookie %d: %q, want %q", i, c, want[i])
		}
	}

	// Locations elsewhere, or relative, stay as they are; the client's own
	// host gets the path mapping.
	for loc, want := range map[string]string{
		"https://elsewhere.example/share/x": "https://elsewhere.example/share/x",
		"echo.jsp":                          "echo.jsp",
		"https://front.example/share/z":     "https://front.example/app/z",
		"http://localhost:8012/share/x":     "http://localhost:8012/share/x", // not a member
	} {
		_, _, rec, _ := serve(t, m, "https://front.example/app/", true, http.Header{"Location": {loc}})
		if got := rec.Header().Get("Location"); got != want {
			t.Errorf("Location %q became %q, want %q", loc, got, want)
		}
	}
}

func TestProxyPassReverseWithTheSamePathOnlyFixesTheHost(t *testing.T) {
	m := provisionPathMap(t, PathMap{Prefix: "/share", BackendPrefix: "/share", Reverse: true, Backends: []string{"127.0.0.1:8010"}})
	_, _, rec, _ := serve(t, m, "http://front.example/share/", false, http.Header{
		"Location":   {"http://127.0.0.1:8010/share/x"},
		"Set-Cookie": {"JSESSIONID=A; Path=/share"},
	})
	if got := rec.Header().Get("Location"); got != "http://front.example/share/x" {
		t.Errorf("Location %q", got)
	}
	if got := rec.Header().Get("Set-Cookie"); got != "JSESSIONID=A; Path=/share" {
		t.Errorf("Set-Cookie %q", got)
	}
}

package manager

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-ajp/caddy-ajp/balancer"
)

func init() {
	caddy.RegisterModule(Page{})
}

// Page is the HTTP handler http.handlers.ajp_manager: the balancer-manager
// page. It shows every balancer and member (status, health, counters, AJP
// pool), refreshes itself, and has per-member buttons (activate, drain,
// disable, stop, standby, reset) and a loadfactor field. Its changes go
// through the same runtime state and storage as the admin API, so every
// front end sees them, and are logged with the basic_auth user.
//
// Mount it on any path, behind authentication and HTTPS. Its forms are
// protected against cross-site requests (see csrf.go). It serves the page
// at whatever path routes to it and never calls the next handler.
type Page struct {
	// ReadOnly shows the page without its forms and refuses every change
	// (403). Default: `false`.
	ReadOnly bool `json:"read_only,omitempty"`

	logger *zap.Logger
	key    []byte // of the form tokens (csrf.go); nil: tokenKey
}

// CaddyModule returns the Caddy module information.
func (Page) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.ajp_manager",
		New: func() caddy.Module { return new(Page) },
	}
}

// Provision keeps the logger and takes the form tokens' key from Caddy's
// storage.
func (p *Page) Provision(ctx caddy.Context) error {
	p.logger = ctx.Logger()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	k, err := loadFormKey(c, ctx.Storage())
	if err != nil {
		p.logger.Warn("the form token key is not in storage; this process keeps its own, so a page from another instance, or from before a restart, gets 403 once",
			zap.String("storage_key", formKeyName), zap.Error(err))
		return nil
	}
	p.key = k
	return nil
}

// formKey is the key of the form tokens.
func (p *Page) formKey() []byte {
	if p.key != nil {
		return p.key
	}
	return tokenKey
}

//go:embed page.html.tmpl page.css
var assets embed.FS

var (
	pageTemplate = template.Must(template.New("").Funcs(template.FuncMap{"ago": ago}).ParseFS(assets, "page.html.tmpl"))
	pageCSS      = func() string { b, _ := assets.ReadFile("page.css"); return string(b) }()
	// The only style is the inline one: the policy names its hash.
	pageCSP = func() string {
		h := sha256.Sum256([]byte(pageCSS))
		return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(h[:]) +
			"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	}()
)

// Refresh bounds, in seconds: the page reloads itself every
// defaultRefresh, or as ?refresh= says (0 stops it).
const (
	defaultRefresh = 5
	maxRefresh     = 3600
)

// pageData is what the templates show.
type pageData struct {
	Title     string
	CSS       template.CSS
	Refresh   int
	Action    string // the page's own URL, path and query
	User      string
	ReadOnly  bool
	Token     string
	Now       time.Time
	Balancers []BalancerView
	Message   string // of an error page
}

// ServeHTTP shows the page (GET, HEAD) or makes a change (POST).
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	// the URL as the client sent it, whatever a handle_path stripped
	orig := r
	if or, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && or.URL != nil {
		orig = &or
	}
	d := &pageData{
		Title:    "Balancer manager",
		CSS:      template.CSS(pageCSS),
		Action:   selfURL(orig),
		User:     user(r),
		ReadOnly: p.ReadOnly,
		Now:      time.Now(),
	}
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")

	switch r.Method {
	case http.MethodGet, http.MethodHead:
		d.Refresh = refresh(r)
		if !p.ReadOnly {
			d.Token = token(p.formKey(), session(w, r, orig.URL.Path))
		}
		for _, b := range balancer.Balancers() {
			d.Balancers = append(d.Balancers, View(b))
		}
		return render(w, http.StatusOK, "page", d)
	case http.MethodPost:
		return p.change(w, r, d)
	}
	h.Set("Allow", "GET, HEAD, POST")
	return p.fail(w, d, http.StatusMethodNotAllowed, "Use GET to see the page and its forms to change a member.")
}

// change makes the change a form posted, then sends the browser back to
// the page (303).
func (p *Page) change(w http.ResponseWriter, r *http.Request, d *pageData) error {
	if p.ReadOnly {
		return p.fail(w, d, http.StatusForbidden, "This balancer manager is read-only.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		return p.fail(w, d, http.StatusBadRequest, "Cannot read the form: "+err.Error())
	}
	if err := checkPost(r, p.formKey()); err != nil {
		p.logger.Debug("balancer manager refused a change", zap.String("reason", err.Error()),
			zap.String("remote", r.RemoteAddr), zap.String("user", d.User))
		return p.fail(w, d, http.StatusForbidden, "Refused: this change did not come from this page ("+err.Error()+"). Reload the page and try again.")
	}
	name, route := r.PostForm.Get("balancer"), r.PostForm.Get("route")
	b := balancer.Lookup(name)
	if b == nil {
		return p.fail(w, d, http.StatusNotFound, fmt.Sprintf("There is no balancer named %q.", name))
	}
	m := b.Member(route)
	if m == nil {
		return p.fail(w, d, http.StatusNotFound, fmt.Sprintf("Balancer %s has no member with route %q.", name, route))
	}
	c, err := formChange(r.PostForm, m)
	if err != nil {
		return p.fail(w, d, http.StatusBadRequest, err.Error())
	}
	if err := Apply(r, p.logger, b, m, c, p.who(r, d.User)); err != nil {
		status := http.StatusInternalServerError
		var ae caddy.APIError
		if errors.As(err, &ae) {
			status, err = ae.HTTPStatus, ae.Err
		}
		return p.fail(w, d, status, err.Error())
	}
	http.Redirect(w, r, d.Action, http.StatusSeeOther)
	return nil
}

// formChange reads a form's change: status (one of the statuses, or
// reset), or loadfactor (empty: the configuration's). It goes through
// ParseChange, the admin API's reading, so both accept the same values.
func formChange(f map[string][]string, m *balancer.Member) (balancer.Change, error) {
	get := func(k string) (string, bool) {
		v, ok := f[k]
		if !ok || len(v) != 1 {
			return "", false
		}
		return v[0], true
	}
	status, hasStatus := get("status")
	lf, hasLF := get("loadfactor")
	req := map[string]any{}
	switch {
	case hasStatus == hasLF:
		return balancer.Change{}, errors.New("a change is either a status or a loadfactor")
	case hasStatus && status == "reset":
		req["status"], req["loadfactor"] = nil, nil
	case hasStatus && status == balancer.StatusActive && m.Config().Status == balancer.StatusActive:
		// back to the configuration rather than an override that says the same
		req["status"] = nil
	case hasStatus:
		req["status"] = status
	case strings.TrimSpace(lf) == "":
		req["loadfactor"] = nil
	default:
		n, err := strconv.Atoi(strings.TrimSpace(lf))
		if err != nil {
			return balancer.Change{}, fmt.Errorf("loadfactor %q: want a number from %d to %d", lf, balancer.MinWeight, balancer.MaxWeight)
		}
		req["loadfactor"] = n
	}
	body, _ := json.Marshal(req)
	return ParseChange(body)
}

// who names the person behind a change: the authenticated user, else the
// client's address.
func (p *Page) who(r *http.Request, user string) string {
	if user != "" {
		return user + " (manager page)"
	}
	addr := r.RemoteAddr
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		addr = ip
	}
	return addr + " (manager page)"
}

// user is the name basic_auth (or any authentication handler) set.
func user(r *http.Request) string {
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		return repl.ReplaceAll("{http.auth.user.id}", "")
	}
	return ""
}

// selfURL is the page's own path and query, for its forms and the
// redirect after a change. A path that starts with "//" would read as
// another host.
func selfURL(r *http.Request) string {
	u := r.URL.EscapedPath()
	if u == "" || u[0] != '/' || strings.HasPrefix(u, "//") {
		u = "/" + strings.TrimLeft(u, "/")
	}
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return u
}

// refresh is the page's refresh interval: ?refresh=<seconds>, 0 to stop.
func refresh(r *http.Request) int {
	v := r.URL.Query().Get("refresh")
	if v == "" {
		return defaultRefresh
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		return defaultRefresh
	case n <= 0:
		return 0
	case n < 2:
		return 2
	}
	return min(n, maxRefresh)
}

func (p *Page) fail(w http.ResponseWriter, d *pageData, status int, msg string) error {
	d.Title = fmt.Sprintf("%d %s", status, http.StatusText(status))
	d.Message = msg
	return render(w, status, "error", d)
}

func render(w http.ResponseWriter, status int, name string, d *pageData) error {
	var buf bytes.Buffer
	if err := pageTemplate.ExecuteTemplate(&buf, name, d); err != nil {
		return caddyhttp.Error(http.StatusInternalServerError, fmt.Errorf("rendering the balancer manager page: %w", err))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// ago says how long before now t was, in the largest whole unit.
func ago(t time.Time, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%d s ago", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return t.Format("2006-01-02 15:04")
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Page)(nil)
	_ caddyhttp.MiddlewareHandler = (*Page)(nil)
)

package manager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-ajp/caddy-ajp/balancer"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI is the admin API module admin.api.ajp: it serves /ajp/balancers
// on Caddy's admin endpoint, behind its origin checks and whatever access
// control the admin endpoint has.
//
//	GET  /ajp/balancers                             every balancer and its members
//	GET  /ajp/balancers/{name}                      one balancer
//	POST /ajp/balancers/{name}/members/{route}      {"status": "drain"}, {"loadfactor": 5},
//	                                                {"status": null} returns to the config's value
type AdminAPI struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.ajp",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision keeps the logger.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	return nil
}

// Routes returns the API's routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/ajp/balancers", Handler: caddy.AdminHandlerFunc(a.serve)},
		{Pattern: "/ajp/balancers/", Handler: caddy.AdminHandlerFunc(a.serve)},
	}
}

func apiError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	rest := strings.TrimPrefix(strings.TrimPrefix(r.URL.EscapedPath(), "/ajp/balancers"), "/")
	var parts []string
	if rest != "" {
		for _, p := range strings.Split(rest, "/") {
			u, err := url.PathUnescape(p)
			if err != nil {
				return apiError(http.StatusBadRequest, "bad path segment %q", p)
			}
			parts = append(parts, u)
		}
	}
	switch {
	case len(parts) == 0:
		if r.Method != http.MethodGet {
			return apiError(http.StatusMethodNotAllowed, "method not allowed: GET only")
		}
		views := []BalancerView{}
		for _, b := range balancer.Balancers() {
			views = append(views, View(b))
		}
		return writeJSON(w, views)
	case len(parts) == 1:
		if r.Method != http.MethodGet {
			return apiError(http.StatusMethodNotAllowed, "method not allowed: GET only")
		}
		b := balancer.Lookup(parts[0])
		if b == nil {
			return apiError(http.StatusNotFound, "no balancer named %q", parts[0])
		}
		return writeJSON(w, View(b))
	case len(parts) == 3 && parts[1] == "members":
		if r.Method != http.MethodPost {
			return apiError(http.StatusMethodNotAllowed, "method not allowed: POST only")
		}
		return a.change(w, r, parts[0], parts[2])
	}
	return apiError(http.StatusNotFound, "not found: /ajp/balancers, /ajp/balancers/{name} or /ajp/balancers/{name}/members/{route}")
}

// ChangeRequest is the body of a POST to a member. A field that is absent
// is left as it is; null returns it to the configuration's value.
type ChangeRequest struct {
	Status     json.RawMessage `json:"status"`
	Loadfactor json.RawMessage `json:"loadfactor"`
}

// ParseChange reads a change from a JSON body.
func ParseChange(body []byte) (balancer.Change, error) {
	var c balancer.Change
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req ChangeRequest
	if err := dec.Decode(&req); err != nil {
		return c, fmt.Errorf("bad JSON body (want {\"status\": …} and/or {\"loadfactor\": …}): %v", err)
	}
	if req.Status == nil && req.Loadfactor == nil {
		return c, errors.New(`nothing to change: give "status" and/or "loadfactor"`)
	}
	if req.Status != nil {
		if string(req.Status) == "null" {
			c.ClearStatus = true
		} else {
			var s string
			if err := json.Unmarshal(req.Status, &s); err != nil || !balancer.ValidStatus(s) {
				return c, fmt.Errorf("status %s: want one of active, drain, disabled, stopped, standby, or null", req.Status)
			}
			c.Status = &s
		}
	}
	if req.Loadfactor != nil {
		if string(req.Loadfactor) == "null" {
			c.ClearWeight = true
		} else {
			var n int
			if err := json.Unmarshal(req.Loadfactor, &n); err != nil || n < balancer.MinWeight || n > balancer.MaxWeight {
				return c, fmt.Errorf("loadfactor %s: want a number from %d to %d, or null", req.Loadfactor, balancer.MinWeight, balancer.MaxWeight)
			}
			c.Weight = &n
		}
	}
	return c, nil
}

func (a *AdminAPI) change(w http.ResponseWriter, r *http.Request, name, route string) error {
	b := balancer.Lookup(name)
	if b == nil {
		return apiError(http.StatusNotFound, "no balancer named %q", name)
	}
	m := b.Member(route)
	if m == nil {
		return apiError(http.StatusNotFound, "balancer %s has no member with route %q", name, route)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return apiError(http.StatusBadRequest, "reading the body: %v", err)
	}
	c, err := ParseChange(body)
	if err != nil {
		return apiError(http.StatusBadRequest, "%v", err)
	}
	if err := Apply(r, a.logger, b, m, c, "admin API "+r.RemoteAddr); err != nil {
		return err
	}
	return writeJSON(w, memberView(m))
}

// Apply makes a change through the balancer's runtime state and logs it
// at INFO (who, what, before → after). Its error is an APIError.
func Apply(r *http.Request, logger *zap.Logger, b *balancer.Balancer, m *balancer.Member, c balancer.Change, who string) error {
	beforeStatus, beforeWeight := m.Status(), max(m.Weight(), 1)
	_, _, err := b.Set(r.Context(), m.Route(), c, who)
	switch {
	case errors.Is(err, balancer.ErrStorage):
		if logger != nil {
			logger.Warn("balancer change not made: storage unavailable", zap.String("balancer", b.Name()),
				zap.String("route", m.Route()), zap.String("by", who), zap.Error(err))
		}
		return apiError(http.StatusServiceUnavailable, "%v; nothing changed", err)
	case err != nil:
		return apiError(http.StatusBadRequest, "%v", err)
	}
	if logger != nil {
		logger.Info("balancer member changed", zap.String("balancer", b.Name()), zap.String("route", m.Route()),
			zap.String("by", who),
			zap.String("status_before", beforeStatus), zap.String("status_after", m.Status()),
			zap.Int("loadfactor_before", beforeWeight), zap.Int("loadfactor_after", max(m.Weight(), 1)))
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Interface guards
var (
	_ caddy.Provisioner = (*AdminAPI)(nil)
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)

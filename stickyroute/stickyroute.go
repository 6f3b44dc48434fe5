// Package stickyroute implements http.reverse_proxy.selection_policies.sticky_route:
// it sends a request to the Tomcat node named by the jvmRoute suffix of its
// session id (JSESSIONID=5ACD…C8.tomcat1), and fails over to another node
// when that one is down, like Apache's stickysession=JSESSIONID|jsessionid
// and mod_jk's sticky_session. It works with any transport.
package stickyroute

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/caddy-ajp/caddy-ajp/balancer"
)

func init() {
	caddy.RegisterModule(StickyRoute{})
}

// Route statuses, as Apache's member flags and mod_jk's activation.
const (
	StatusActive   = ""         // takes new and sticky requests
	StatusDrain    = "drain"    // only requests whose session is bound to it (Apache +N)
	StatusDisabled = "disabled" // only requests whose session is bound to it (Apache +D, mod_jk D)
	StatusStopped  = "stopped"  // nothing at all (Apache +S, mod_jk S)
	StatusStandby  = "standby"  // new requests only when no other upstream is available (Apache +H)

	statusActiveWord = "active" // StatusActive as a config may spell it
)

// Placeholder names this policy sets.
const (
	PlaceholderSessionRoute = "http.reverse_proxy.sticky_route.session_route"
	PlaceholderRouteChanged = "http.reverse_proxy.sticky_route.route_changed"
)

// triedVar is the request variable that remembers which upstreams this
// request was already sent to, so a retry after a failure moves on.
const triedVar = "sticky_route.tried"

// triedList is triedVar's value. A request is rarely tried more than
// twice: the list lives in its own array, one allocation per request.
type triedList struct {
	list []*reverseproxy.Upstream
	buf  [2]*reverseproxy.Upstream
}

// StickyRoute selects the upstream named by the route suffix of the
// request's session id.
type StickyRoute struct {
	// The balancer's name (Apache's balancer://NAME): the admin API
	// (/ajp/balancers/NAME), the manager page and the stored runtime
	// overrides know it by this name. Default: derived from the routes
	// ("routes-" and a hash of the route names and upstreams), stable as
	// long as they do not change.
	Name string `json:"name,omitempty"`

	// Follow joins the balancer Name without configuring its members: the
	// routes take their status and loadfactor from it. ajp_balancer sets it
	// on the policy of its WebSocket proxy, whose upstreams are the members'
	// HTTP connectors.
	Follow bool `json:"follow,omitempty"`

	// The routes: each jvmRoute name with the upstream address (as written
	// in the proxy's upstreams, e.g. `127.0.0.1:8010`) that serves it.
	Routes []Route `json:"routes,omitempty"`

	// Cookie names that carry the session id, tried in order; every cookie
	// of a name is tried (same-name cookies with different paths).
	// Default: `["JSESSIONID"]`.
	Cookies []string `json:"cookies,omitempty"`

	// Path parameter names that carry the session id (`;jsessionid=…`),
	// read before the cookies. Default: `["jsessionid"]`.
	PathParams []string `json:"path_params,omitempty"`

	// The separator between the session id and its route; the route is the
	// text after the first separator. Default: `.`.
	Separator string `json:"separator,omitempty"`

	// When the session's node is not available, answer 503 instead of
	// failing over (Apache's nofailover=On, for clusters without session
	// replication).
	NoFailover bool `json:"nofailover,omitempty"`

	// The policy for requests without a usable route (no session, unknown
	// route, failover). Any selection policy. Default: `round_robin`.
	FallbackRaw json.RawMessage `json:"fallback,omitempty" caddy:"namespace=http.reverse_proxy.selection_policies inline_key=policy"`

	fallback reverseproxy.Selector
	byName   map[string]*Route
	byAddr   map[string]*Route  // by normalized address
	byDial   map[string]*Route  // by dial address as written (no route: nil), so the hot path need not normalize
	bal      *balancer.Balancer // the runtime state: statuses, loadfactors, counters
	logger   *zap.Logger
	wrrMu    *sync.Mutex
	wrrCur   map[string]int // smooth weighted round robin state, by address

	// available reports whether an upstream can take a request; tests
	// replace it, since Caddy keeps health state unexported.
	available         func(*reverseproxy.Upstream) bool
	plainAvailability bool                              // available is Upstream.Available, which every policy checks itself
	healthy           func(*reverseproxy.Upstream) bool // tells unhealthy from full, for the log
}

// Route binds a jvmRoute to an upstream.
type Route struct {
	// The jvmRoute, as Tomcat's Engine jvmRoute attribute sets it. A route
	// without a name gives its upstream a status or weight only (an Apache
	// member without route=).
	Name string `json:"name,omitempty"`
	// The upstream's dial address, as in the proxy's upstreams.
	Upstream string `json:"upstream"`
	// One of drain, disabled, stopped, standby; empty (or active) is
	// active. The admin API can override it at runtime.
	Status string `json:"status,omitempty"`
	// The route to prefer when this one's node is unavailable.
	Redirect string `json:"redirect,omitempty"`
	// The share of new sessions this node gets relative to the others
	// (Apache's loadfactor), from 1 to 100. When any route has a weight,
	// new sessions are spread by smooth weighted round robin (and no
	// fallback may be configured); routes without a weight count 1. The
	// admin API can override it at runtime.
	Weight *int `json:"weight,omitempty"`

	m       *balancer.Member // its runtime state
	nameVal any              // Name as the placeholder holds it, boxed once
}

// key is the route's identity in its balancer: its name, or for a route
// without one, its upstream.
func (rt *Route) key() string {
	if rt.Name != "" {
		return rt.Name
	}
	return "@" + normAddr(rt.Upstream)
}

// status is the route's effective status (a runtime override, else the
// configuration's), as this package spells it.
func (rt *Route) status() string {
	if st := rt.m.Status(); st != balancer.StatusActive {
		return st
	}
	return StatusActive
}

// CaddyModule returns the Caddy module information.
func (StickyRoute) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.selection_policies.sticky_route",
		New: func() caddy.Module { return new(StickyRoute) },
	}
}

// Provision validates the routes and loads the fallback policy.
func (s *StickyRoute) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	if err := s.CheckConfig(); err != nil {
		return err
	}
	if s.available == nil {
		s.available = (*reverseproxy.Upstream).Available
		s.plainAvailability = true
	}
	if s.healthy == nil {
		s.healthy = (*reverseproxy.Upstream).Healthy
	}
	if len(s.Cookies) == 0 {
		s.Cookies = []string{"JSESSIONID"}
	}
	if len(s.PathParams) == 0 {
		s.PathParams = []string{"jsessionid"}
	}
	if s.Separator == "" {
		s.Separator = "."
	}
	s.byName = make(map[string]*Route, len(s.Routes))
	s.byAddr = make(map[string]*Route, len(s.Routes))
	s.byDial = make(map[string]*Route, 2*len(s.Routes))
	members := make([]balancer.MemberConfig, len(s.Routes))
	for i := range s.Routes {
		rt := &s.Routes[i]
		if rt.Status == statusActiveWord {
			rt.Status = StatusActive
		}
		if rt.Name != "" {
			s.byName[rt.Name] = rt
			rt.nameVal = rt.Name
		}
		s.byAddr[normAddr(rt.Upstream)] = rt
		s.byDial[rt.Upstream] = rt
		members[i] = balancer.MemberConfig{Route: rt.key(), Upstream: rt.Upstream, Status: rt.Status}
		if rt.Weight != nil {
			members[i].Weight = *rt.Weight
		}
	}
	h, err := s.checkUpstreams(ctx)
	if err != nil {
		return err
	}
	if h != nil {
		for _, u := range h.Upstreams {
			s.byDial[u.Dial] = s.byAddr[normAddr(u.Dial)]
		}
	}
	name, derived := s.Name, false
	if name == "" {
		name, derived = derivedName(s.Routes), true
	}
	bal, ms := balancer.Join(name, members, balancer.JoinOptions{Derived: derived, Shadow: s.Follow, CustomFallback: s.FallbackRaw != nil})
	s.bal = bal
	for i := range s.Routes {
		s.Routes[i].m = ms[i]
		if h != nil && !s.Follow {
			ms[i].SetProbe(upstreamProbe(h, s.Routes[i].Upstream))
		}
	}
	balancer.UseStorage(storageOf(ctx), s.logger)
	balancer.RegisterMetrics(ctx.GetMetricsRegistry())
	s.wrrCur = make(map[string]int)
	s.wrrMu = new(sync.Mutex)
	if s.FallbackRaw == nil {
		s.FallbackRaw = caddyconfig.JSONModuleObject(reverseproxy.RoundRobinSelection{}, "policy", "round_robin", nil)
	}
	mod, err := ctx.LoadModule(s, "FallbackRaw")
	if err != nil {
		return fmt.Errorf("sticky_route: loading fallback policy: %v", err)
	}
	s.fallback = mod.(reverseproxy.Selector)
	return nil
}

// checkUpstreams makes sure every route names one of the proxy's upstreams,
// when the proxy has a static list, and returns the proxy.
func (s *StickyRoute) checkUpstreams(ctx caddy.Context) (*reverseproxy.Handler, error) {
	var h *reverseproxy.Handler
	mods := ctx.Modules()
	for i := len(mods) - 1; i >= 0; i-- {
		if rh, ok := mods[i].(*reverseproxy.Handler); ok {
			h = rh
			break
		}
	}
	if h == nil || h.DynamicUpstreams != nil || h.DynamicUpstreamsRaw != nil || len(h.Upstreams) == 0 {
		return nil, nil
	}
	known := make(map[string]bool, len(h.Upstreams))
	var list []string
	for _, u := range h.Upstreams {
		known[normAddr(u.Dial)] = true
		list = append(list, u.Dial)
	}
	for _, rt := range s.Routes {
		if !known[normAddr(rt.Upstream)] {
			return nil, fmt.Errorf("sticky_route: route %s names %s, which is not one of the proxy's upstreams (%s)",
				rt.Name, rt.Upstream, strings.Join(list, ", "))
		}
	}
	// as in Apache, an upstream without a route is allowed (a plain
	// balancer, a "sorry" server), but next to routed ones it is more
	// often a forgotten route: sessions that start there cannot stick
	if len(s.byName) > 0 {
		for _, u := range h.Upstreams {
			if rt := s.byAddr[normAddr(u.Dial)]; rt == nil || rt.Name == "" {
				s.logger.Warn("upstream has no route: sessions that start on it cannot stick to it",
					zap.String("upstream", u.Dial))
			}
		}
	}
	return h, nil
}

func normAddr(a string) string {
	a = strings.TrimPrefix(strings.TrimPrefix(a, "ajp://"), "http://")
	return strings.ToLower(a)
}

// Select returns the upstream of the request's session route when it is
// available, else fails over (or not, with nofailover).
func (s *StickyRoute) Select(pool reverseproxy.UpstreamPool, r *http.Request, w http.ResponseWriter) *reverseproxy.Upstream {
	repl, _ := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	tl, _ := caddyhttp.GetVar(r.Context(), triedVar).(*triedList)
	var tried []*reverseproxy.Upstream
	if tl != nil {
		tried = tl.list
	}

	name, rt := s.sessionRoute(r)
	if repl != nil {
		if rt != nil {
			repl.Set(PlaceholderSessionRoute, rt.nameVal) // no boxing per request
		} else {
			repl.Set(PlaceholderSessionRoute, name)
		}
	}
	if rt == nil && name != "" {
		s.logger.Debug("session route matches no route", zap.String("route", name))
	}
	var chosen *reverseproxy.Upstream
	why := ""
	if rt != nil {
		u := s.find(pool, rt)
		switch why = s.unusable(u, rt, tried); {
		case why == "":
			chosen = u
		case s.NoFailover:
			s.logger.Info("session's route cannot take the request; nofailover: none chosen",
				zap.String("from_route", rt.Name), zap.String("why", why))
			s.set(repl, r, tl, nil, rt)
			return nil
		case rt.Redirect != "":
			if red := s.byName[rt.Redirect]; red != nil && takesNew(red.status()) {
				if u := s.find(pool, red); u != nil && s.available(u) && !contains(tried, u) {
					chosen = u
				}
			}
		}
	}
	if chosen == nil {
		chosen = s.selectFallback(pool, r, w, tried)
	}
	if why != "" {
		s.logFailover(rt, chosen, why)
	}
	s.count(rt, chosen, why, tried)
	s.set(repl, r, tl, chosen, rt)
	return chosen
}

// Why a session's route cannot take a request, as logged.
const (
	whyNotInPool   = "not among the proxy's upstreams"
	whyStopped     = "status stopped"
	whyTried       = "tried for this request and failed"
	whyUnhealthy   = "unhealthy"
	whyUnavailable = "unavailable" // healthy, but at its max_requests
)

// unusable says why upstream u of the session's route rt cannot take the
// request, or "" when it can.
func (s *StickyRoute) unusable(u *reverseproxy.Upstream, rt *Route, tried []*reverseproxy.Upstream) string {
	switch {
	case u == nil:
		return whyNotInPool
	case rt.status() == StatusStopped:
		return whyStopped
	case contains(tried, u):
		return whyTried
	case s.available(u):
		return ""
	case !s.healthy(u):
		return whyUnhealthy
	}
	return whyUnavailable
}

// logFailover tells an operator that a session left its route: by route
// names and addresses only, never the session id.
func (s *StickyRoute) logFailover(from *Route, to *reverseproxy.Upstream, why string) {
	if ce := s.logger.Check(zap.InfoLevel, "sticky session failover"); ce != nil {
		toRoute, toAddr := "", ""
		if to != nil {
			toAddr = to.Dial
			if rt := s.routeOf(to); rt != nil {
				toRoute = rt.Name
			}
		}
		ce.Write(zap.String("from_route", from.Name), zap.String("from_upstream", from.Upstream),
			zap.String("to_route", toRoute), zap.String("to_upstream", toAddr), zap.String("why", why))
	}
}

// set records the choice: the placeholders and the tried list.
func (s *StickyRoute) set(repl *caddy.Replacer, r *http.Request, tl *triedList, chosen *reverseproxy.Upstream, rt *Route) {
	if repl != nil {
		changed := rt != nil && (chosen == nil || s.routeOf(chosen) != rt)
		repl.Set(PlaceholderRouteChanged, changed)
	}
	if chosen != nil {
		if tl == nil {
			tl = new(triedList)
			tl.list = tl.buf[:0]
			caddyhttp.SetVar(r.Context(), triedVar, tl)
		}
		tl.list = append(tl.list, chosen)
	}
}

// selectFallback picks among the upstreams that take new sessions; standby
// upstreams only when none of those is available. Upstreams this request
// already failed on are left out while others remain.
func (s *StickyRoute) selectFallback(pool reverseproxy.UpstreamPool, r *http.Request, w http.ResponseWriter, tried []*reverseproxy.Upstream) *reverseproxy.Upstream {
	if s.bal.Plain() && len(tried) == 0 && s.plainAvailability {
		return s.fallback.Select(pool, r, w) // nothing to filter: no copy
	}
	for _, retryTried := range []bool{false, true} {
		for _, want := range []string{StatusActive, StatusStandby} {
			var eligible reverseproxy.UpstreamPool
			for _, u := range pool {
				st := StatusActive
				if rt := s.routeOf(u); rt != nil {
					st = rt.status()
				}
				if st == want && s.available(u) && (retryTried || !contains(tried, u)) {
					eligible = append(eligible, u)
				}
			}
			if len(eligible) > 0 {
				if s.bal.Weighted() && !s.bal.CustomFallback() {
					return s.weightedSelect(eligible)
				}
				return s.fallback.Select(eligible, r, w)
			}
		}
		if len(tried) == 0 {
			break
		}
	}
	return nil
}

// weightedSelect is smooth weighted round robin (as nginx does it): over
// any window, each upstream gets its weight's share, evenly interleaved.
func (s *StickyRoute) weightedSelect(eligible reverseproxy.UpstreamPool) *reverseproxy.Upstream {
	s.wrrMu.Lock()
	defer s.wrrMu.Unlock()
	var best *reverseproxy.Upstream
	total := 0
	for _, u := range eligible {
		w := 1
		if rt := s.routeOf(u); rt != nil {
			if rw := rt.m.Weight(); rw != 0 {
				w = rw
			}
		}
		s.wrrCur[u.Dial] += w
		total += w
		if best == nil || s.wrrCur[u.Dial] > s.wrrCur[best.Dial] {
			best = u
		}
	}
	s.wrrCur[best.Dial] -= total
	return best
}

func takesNew(status string) bool { return status == StatusActive || status == StatusStandby }

// find returns the upstream of rt in the pool, or nil.
func (s *StickyRoute) find(pool reverseproxy.UpstreamPool, rt *Route) *reverseproxy.Upstream {
	for _, u := range pool {
		if s.routeOf(u) == rt {
			return u
		}
	}
	return nil
}

// routeOf returns the route of an upstream, or nil: by its dial address
// as written when the configuration has it, else normalized.
func (s *StickyRoute) routeOf(u *reverseproxy.Upstream) *Route {
	if rt, ok := s.byDial[u.Dial]; ok {
		return rt
	}
	return s.byAddr[normAddr(u.Dial)]
}

func contains(list []*reverseproxy.Upstream, u *reverseproxy.Upstream) bool {
	for _, x := range list {
		if x == u {
			return true
		}
	}
	return false
}

// Interface guards
var (
	_ caddy.Provisioner     = (*StickyRoute)(nil)
	_ caddy.CleanerUpper    = (*StickyRoute)(nil)
	_ reverseproxy.Selector = (*StickyRoute)(nil)
)

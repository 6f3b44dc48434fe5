// Package balancer holds the runtime state of named balancers: for each
// member (a route), its status and loadfactor as the configuration sets
// them and as an operator overrides them at runtime, and what happened to
// it (requests, new sessions, sticky requests, failovers). sticky_route
// joins a balancer by name when it is provisioned and reads the effective
// status and loadfactor of its routes on every request; the admin API and
// the manager page read and steer it.
//
// Overrides are kept in Caddy's configured storage (see store.go), so they
// outlive reloads and restarts and reach every Caddy instance that shares
// the storage. The state itself is kept per process and per name, across
// config loads: a reload keeps counters and overrides.
package balancer

import (
	"fmt"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Member statuses, as the API and the manager page spell them (Apache's
// member flags, mod_jk's activation).
const (
	StatusActive   = "active"   // takes new and sticky requests
	StatusDrain    = "drain"    // only requests of sessions bound to it (Apache +N)
	StatusDisabled = "disabled" // only requests of sessions bound to it (Apache +D, mod_jk D)
	StatusStopped  = "stopped"  // nothing at all (Apache +S, mod_jk S)
	StatusStandby  = "standby"  // new sessions only when no active member is available (Apache +H)
)

// ValidStatus reports whether s is one of the statuses.
func ValidStatus(s string) bool {
	switch s {
	case StatusActive, StatusDrain, StatusDisabled, StatusStopped, StatusStandby:
		return true
	}
	return false
}

// Loadfactor bounds, Apache's.
const (
	MinWeight = 1
	MaxWeight = 100
)

// namePattern is what a balancer name may be: it is part of storage keys,
// metric labels and URLs.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckName reports whether name can name a balancer.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("balancer name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// MemberConfig is a member as the configuration gives it.
type MemberConfig struct {
	Route    string
	Upstream string // dial address
	Status   string // one of the statuses; "" is active
	Weight   int    // loadfactor; 0 when the configuration sets none
}

// Override is a runtime change of a member, as stored.
type Override struct {
	// Status replaces the configured status; "" keeps it.
	Status string `json:"status,omitempty"`
	// Weight replaces the configured loadfactor; 0 keeps it.
	Weight int `json:"loadfactor,omitempty"`
	// Upstream is the member's upstream when the override was set: an
	// override never applies to a different upstream under the same route.
	Upstream string `json:"upstream"`
	// SetAt is when it was set.
	SetAt time.Time `json:"set_at"`
	// By is who set it (the admin request's remote address, or the manager
	// page's user).
	By string `json:"by,omitempty"`
}

func (o *Override) empty() bool { return o == nil || o.Status == "" && o.Weight == 0 }

// Probe reports what the proxy knows of a member's upstream.
type Probe func() (inFlight int, healthy bool)

// Member is the runtime state of one member of a balancer.
type Member struct {
	route string

	cfg      atomic.Pointer[MemberConfig]
	override atomic.Pointer[Override] // applies to the configured upstream
	probe    atomic.Pointer[Probe]

	// What happened to it; counted by sticky_route.
	Requests      atomic.Uint64 // requests routed to it (each attempt)
	NewSessions   atomic.Uint64 // requests routed to it without a session route
	Sticky        atomic.Uint64 // requests routed to it by their session's route
	FailoversFrom atomic.Uint64 // requests of its sessions sent elsewhere
	FailoversTo   atomic.Uint64 // requests of other members' sessions it took
	Failures      atomic.Uint64 // attempts on it that failed (the request was retried)
	lastRequest   atomic.Int64  // UnixNano
}

// Route is the member's route.
func (m *Member) Route() string { return m.route }

// Config is the member as the configuration gives it.
func (m *Member) Config() MemberConfig {
	if c := m.cfg.Load(); c != nil {
		return *c
	}
	return MemberConfig{Route: m.route}
}

// Override is the runtime override in force, or nil.
func (m *Member) Override() *Override { return m.override.Load() }

// Status is the effective status: the override's, else the configuration's.
func (m *Member) Status() string {
	if o := m.override.Load(); o != nil && o.Status != "" {
		return o.Status
	}
	if c := m.cfg.Load(); c != nil && c.Status != "" {
		return c.Status
	}
	return StatusActive
}

// Weight is the effective loadfactor; 0 when neither the configuration nor
// an override sets one.
func (m *Member) Weight() int {
	if o := m.override.Load(); o != nil && o.Weight != 0 {
		return o.Weight
	}
	if c := m.cfg.Load(); c != nil {
		return c.Weight
	}
	return 0
}

// Routed counts a request routed to the member. Its time is the coarse
// clock's (clockTick): reading the system clock per request cost more than
// the rest of the counting.
func (m *Member) Routed() {
	m.Requests.Add(1)
	if now := clockNow.Load(); m.lastRequest.Load() != now {
		m.lastRequest.Store(now)
	}
}

// clockTick is the resolution of last_request.
const clockTick = 100 * time.Millisecond

// clockNow is a coarse clock (UnixNano), moved every clockTick while any
// balancer is registered.
var (
	clockNow     atomic.Int64
	clockRunning bool // guarded by registry
)

// startClockLocked starts the clock; registry is held.
func startClockLocked() {
	if clockRunning {
		return
	}
	clockRunning = true
	clockNow.Store(time.Now().UnixNano())
	go func() {
		t := time.NewTicker(clockTick)
		defer t.Stop()
		for range t.C {
			clockNow.Store(time.Now().UnixNano())
			registry.Lock()
			if len(registry.m) == 0 {
				clockRunning = false
				registry.Unlock()
				return
			}
			registry.Unlock()
		}
	}()
}

// LastRequest is when a request was last routed to it (zero if never).
func (m *Member) LastRequest() time.Time {
	if n := m.lastRequest.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// SetProbe sets how to ask the proxy about the member's upstream.
func (m *Member) SetProbe(p Probe) { m.probe.Store(&p) }

// InFlight and Healthy are what the proxy knows: requests in flight to the
// upstream, and its health (false, false when no proxy said yet).
func (m *Member) InFlight() (int, bool) {
	if p := m.probe.Load(); p != nil {
		n, h := (*p)()
		return n, h
	}
	return 0, false
}

// Balancer is the runtime state of one named balancer.
type Balancer struct {
	name    string
	derived bool

	mu      sync.RWMutex
	members []*Member          // in configuration order
	byRoute map[string]*Member // every member ever joined, by route
	stored  map[string]*Override
	refs    int

	failovers sync.Map // [2]string{from, to} route → *atomic.Uint64

	custom   atomic.Bool // the policy has a fallback of its own: loadfactors do not apply
	plain    atomic.Bool // no member has a status other than active, none a weight
	weighted atomic.Bool // some member has a loadfactor
}

// Name is the balancer's name.
func (b *Balancer) Name() string { return b.name }

// Derived tells a name the configuration did not give.
func (b *Balancer) Derived() bool { return b.derived }

// Members are the configured members, in configuration order.
func (b *Balancer) Members() []*Member {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return append([]*Member(nil), b.members...)
}

// Member returns the configured member with the route, or nil.
func (b *Balancer) Member(route string) *Member {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, m := range b.members {
		if m.route == route {
			return m
		}
	}
	return nil
}

// Plain reports that no member has a status other than active and none a
// loadfactor: sticky_route's fast path.
func (b *Balancer) Plain() bool { return b.plain.Load() }

// Weighted reports that some member has a loadfactor.
func (b *Balancer) Weighted() bool { return b.weighted.Load() }

// CustomFallback reports that the policy spreads new sessions with a
// fallback policy of its own, so loadfactors cannot apply.
func (b *Balancer) CustomFallback() bool { return b.custom.Load() }

// Failover counts a request of from's session routed to to.
func (b *Balancer) Failover(from, to *Member) {
	from.FailoversFrom.Add(1)
	to.FailoversTo.Add(1)
	c, _ := b.failovers.LoadOrStore([2]string{from.route, to.route}, new(atomic.Uint64))
	c.(*atomic.Uint64).Add(1)
}

func (b *Balancer) failoverCounts() map[[2]string]uint64 {
	out := map[[2]string]uint64{}
	b.failovers.Range(func(k, v any) bool {
		out[k.([2]string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

// Orphan is a stored override that applies to no member: its route is no
// longer configured, or now names a different upstream.
type Orphan struct {
	Route    string   `json:"route"`
	Override Override `json:"override"`
	Reason   string   `json:"reason"`
}

// Orphans lists the stored overrides that apply to no member.
func (b *Balancer) Orphans() []Orphan {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []Orphan
	for route, o := range b.stored {
		m := b.byRoute[route]
		switch {
		case m == nil || !b.configured(m):
			out = append(out, Orphan{route, *o, "the configuration has no member with this route"})
		case o.Upstream != m.Config().Upstream:
			out = append(out, Orphan{route, *o, fmt.Sprintf("set for upstream %s; the route now names %s", o.Upstream, m.Config().Upstream)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Route < out[j].Route })
	return out
}

func (b *Balancer) configured(m *Member) bool {
	for _, x := range b.members {
		if x == m {
			return true
		}
	}
	return false
}

// applyLocked puts the stored overrides in force where they apply; b.mu is
// held for writing.
func (b *Balancer) applyLocked() {
	for _, m := range b.byRoute {
		var o *Override
		if s := b.stored[m.route]; s != nil && !s.empty() && b.configured(m) && s.Upstream == m.Config().Upstream {
			o = s
		}
		m.override.Store(o)
	}
	b.recomputeLocked()
}

func (b *Balancer) recomputeLocked() {
	plain, weighted := true, false
	for _, m := range b.members {
		if m.Status() != StatusActive {
			plain = false
		}
		if m.Weight() != 0 {
			plain, weighted = false, true
		}
	}
	b.plain.Store(plain)
	b.weighted.Store(weighted)
}

// registry holds every balancer this process knows, by name.
var registry = struct {
	sync.Mutex
	m map[string]*Balancer
}{m: map[string]*Balancer{}}

// Balancers lists the balancers of this process, by name.
func Balancers() []*Balancer {
	registry.Lock()
	defer registry.Unlock()
	out := make([]*Balancer, 0, len(registry.m))
	for _, b := range registry.m {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Lookup returns the balancer of that name, or nil.
func Lookup(name string) *Balancer {
	registry.Lock()
	defer registry.Unlock()
	return registry.m[name]
}

// JoinOptions say how a policy joins a balancer.
type JoinOptions struct {
	// Derived marks a name the configuration did not give.
	Derived bool
	// Shadow joins without configuring the members: a second policy that
	// follows a balancer's state (ajp_balancer's WebSocket proxy, whose
	// upstreams are the members' HTTP connectors).
	Shadow bool
	// CustomFallback: the policy has a fallback policy of its own.
	CustomFallback bool
}

// Join makes a provisioned policy part of the named balancer, configuring
// its members (the newest configuration wins; members keep their counters
// and overrides across reloads), and returns the balancer's members for
// the given routes, in order. Leave undoes it.
func Join(name string, members []MemberConfig, opt JoinOptions) (*Balancer, []*Member) {
	registry.Lock()
	b := registry.m[name]
	if b == nil {
		b = &Balancer{name: name, byRoute: map[string]*Member{}, stored: map[string]*Override{}}
		b.plain.Store(true)
		registry.m[name] = b
	}
	b.refs++
	startClockLocked()
	registry.Unlock()

	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*Member, len(members))
	var list []*Member
	for i, mc := range members {
		m := b.byRoute[mc.Route]
		if m == nil {
			m = &Member{route: mc.Route}
			b.byRoute[mc.Route] = m
		}
		if !opt.Shadow || m.cfg.Load() == nil {
			c := mc
			if c.Status == "" {
				c.Status = StatusActive
			}
			m.cfg.Store(&c)
		}
		out[i] = m
		list = append(list, m)
	}
	if !opt.Shadow {
		b.derived = opt.Derived
		b.members = list
		b.custom.Store(opt.CustomFallback)
	}
	b.applyLocked()
	return b, out
}

// Leave undoes one Join; the balancer is forgotten when no policy is left.
func (b *Balancer) Leave() {
	registry.Lock()
	defer registry.Unlock()
	b.refs--
	if b.refs <= 0 && registry.m[b.name] == b {
		delete(registry.m, b.name)
	}
}

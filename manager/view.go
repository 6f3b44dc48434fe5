// Package manager is how operators see and steer the balancers at
// runtime: the admin API module admin.api.ajp (/ajp/balancers), and what it
// shares with the manager page. It reads the runtime state of package
// balancer and the AJP pools of package ajptransport.
package manager

import (
	"time"

	"github.com/caddy-ajp/caddy-ajp/ajptransport"
	"github.com/caddy-ajp/caddy-ajp/balancer"
)

// BalancerView is one balancer as the API shows it.
type BalancerView struct {
	Name string `json:"name"`
	// Derived tells a name the configuration did not give.
	Derived  bool              `json:"derived"`
	Members  []MemberView      `json:"members"`
	Orphaned []balancer.Orphan `json:"orphaned"`
}

// MemberView is one member as the API shows it.
type MemberView struct {
	Route        string                  `json:"route"`
	Upstream     string                  `json:"upstream"`
	Status       string                  `json:"status"`        // effective
	ConfigStatus string                  `json:"config_status"` // what the configuration says
	Override     *OverrideView           `json:"override"`      // the runtime value, or null
	Loadfactor   int                     `json:"loadfactor"`    // effective; 1 when none is set
	Healthy      bool                    `json:"healthy"`
	InFlight     int                     `json:"in_flight"`
	Requests     uint64                  `json:"requests"`
	Failures     uint64                  `json:"failures"`
	NewSessions  uint64                  `json:"new_sessions"`
	Sticky       uint64                  `json:"sticky"`
	FailoversFr  uint64                  `json:"failovers_from"`
	FailoversTo  uint64                  `json:"failovers_to"`
	LastRequest  *time.Time              `json:"last_request"`
	AJP          *ajptransport.PoolStats `json:"ajp"` // the AJP pool to its upstream, or null for another transport
}

// OverrideView is a runtime override as the API shows it.
type OverrideView struct {
	Status     *string   `json:"status"`
	Loadfactor *int      `json:"loadfactor"`
	SetAt      time.Time `json:"set_at"`
	By         string    `json:"by,omitempty"`
}

// View builds the view of a balancer.
func View(b *balancer.Balancer) BalancerView {
	v := BalancerView{Name: b.Name(), Derived: b.Derived(), Members: []MemberView{}, Orphaned: b.Orphans()}
	if v.Orphaned == nil {
		v.Orphaned = []balancer.Orphan{}
	}
	for _, m := range b.Members() {
		v.Members = append(v.Members, memberView(m))
	}
	return v
}

func memberView(m *balancer.Member) MemberView {
	cfg := m.Config()
	inFlight, healthy := m.InFlight()
	mv := MemberView{
		Route:        m.Route(),
		Upstream:     cfg.Upstream,
		Status:       m.Status(),
		ConfigStatus: cfg.Status,
		Loadfactor:   max(m.Weight(), 1),
		Healthy:      healthy,
		InFlight:     inFlight,
		Requests:     m.Requests.Load(),
		Failures:     m.Failures.Load(),
		NewSessions:  m.NewSessions.Load(),
		Sticky:       m.Sticky.Load(),
		FailoversFr:  m.FailoversFrom.Load(),
		FailoversTo:  m.FailoversTo.Load(),
	}
	if t := m.LastRequest(); !t.IsZero() {
		mv.LastRequest = &t
	}
	if o := m.Override(); o != nil {
		ov := &OverrideView{SetAt: o.SetAt, By: o.By}
		if o.Status != "" {
			ov.Status = &o.Status
		}
		if o.Weight != 0 {
			ov.Loadfactor = &o.Weight
		}
		mv.Override = ov
	}
	if ps, ok := ajptransport.Pool(cfg.Upstream); ok {
		mv.AJP = &ps
	}
	return mv
}

package ajptransport

import (
	"strings"
	"sync"
)

// PoolStats describes the AJP connections of this process to one backend
// address, across every provisioned transport.
type PoolStats struct {
	Open    int `json:"open"`    // connections that exist, busy or idle
	Idle    int `json:"idle"`    // connections waiting in the pool for a request
	Waiting int `json:"waiting"` // requests waiting for a free connection (max_conns_per_host)
}

// live holds the provisioned transports, so the admin API and the manager
// page can report their pools.
var live = struct {
	sync.Mutex
	m map[*Transport]struct{}
}{m: map[*Transport]struct{}{}}

func register(t *Transport) {
	live.Lock()
	live.m[t] = struct{}{}
	live.Unlock()
}

func unregister(t *Transport) {
	live.Lock()
	delete(live.m, t)
	live.Unlock()
}

// Pool returns the connection counts to the backend at addr (a dial
// address, "host:port"), and whether any transport of this process has a
// pool for it.
func Pool(addr string) (PoolStats, bool) {
	addr = strings.ToLower(addr)
	var s PoolStats
	found := false
	live.Lock()
	defer live.Unlock()
	for t := range live.m {
		t.poolsMu.RLock()
		for k, p := range t.pools {
			if strings.ToLower(k.addr) != addr {
				continue
			}
			found = true
			p.mu.Lock()
			s.Open += p.open
			s.Idle += len(p.idle)
			s.Waiting += len(p.waiters)
			p.mu.Unlock()
		}
		t.poolsMu.RUnlock()
	}
	return s, found
}

package balancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Overrides live in Caddy's storage (the `storage` global option: the file
// system by default; Redis, Consul, S3 or a database when several Caddy
// instances share one), one key per member:
//
//	ajp/balancers/<balancer>/<route>.json
//
// Names come from the configuration only (a request for an unknown
// balancer or route is refused before anything is stored), and are
// path-escaped. Every instance polls the keys every SyncInterval and puts
// what it finds in force; a storage that cannot be read leaves the last
// known state in force. Nothing holds a storage lock, least of all while
// a request is served.

// StoragePrefix is the storage folder of the overrides.
const StoragePrefix = "ajp/balancers"

// SyncInterval is how often an instance reads the overrides from storage:
// a change made on one instance is in force on the others within it (and
// the time one poll takes).
var SyncInterval = time.Second

func storageKey(balancer, route string) string {
	return StoragePrefix + "/" + url.PathEscape(balancer) + "/" + url.PathEscape(route) + ".json"
}

// parseKey splits a storage key into balancer and route.
func parseKey(key string) (balancer, route string, ok bool) {
	rest, ok := strings.CutPrefix(key, StoragePrefix+"/")
	if !ok {
		return "", "", false
	}
	b, r, ok := strings.Cut(rest, "/")
	if !ok || !strings.HasSuffix(r, ".json") || strings.Contains(r, "/") {
		return "", "", false
	}
	b, err1 := url.PathUnescape(b)
	r, err2 := url.PathUnescape(strings.TrimSuffix(r, ".json"))
	return b, r, err1 == nil && err2 == nil
}

// syncer polls the storage while any balancer is registered.
var syncer = struct {
	sync.Mutex
	storage certmagic.Storage
	logger  *zap.Logger
	running bool
	down    bool // the last poll failed: logged once
}{}

// UseStorage sets the storage the overrides live in (the configuration's,
// on each provisioning: the newest wins) and starts polling it.
func UseStorage(s certmagic.Storage, logger *zap.Logger) {
	if s == nil {
		return
	}
	syncer.Lock()
	defer syncer.Unlock()
	syncer.storage, syncer.logger = s, logger
	if !syncer.running {
		syncer.running = true
		go poll()
	}
}

func currentStorage() (certmagic.Storage, *zap.Logger) {
	syncer.Lock()
	defer syncer.Unlock()
	return syncer.storage, syncer.logger
}

// poll reads the overrides every SyncInterval until no balancer is left.
func poll() {
	for {
		Sync(context.Background())
		time.Sleep(SyncInterval)
		registry.Lock()
		n := len(registry.m)
		registry.Unlock()
		if n == 0 {
			syncer.Lock()
			// a Join may have come in between: it sees running and relies on us
			registry.Lock()
			n = len(registry.m)
			registry.Unlock()
			if n == 0 {
				syncer.running = false
				syncer.Unlock()
				return
			}
			syncer.Unlock()
		}
	}
}

// Sync reads every stored override once and puts it in force.
func Sync(ctx context.Context) {
	s, logger := currentStorage()
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	seq := changes.Load()
	found, err := readAll(ctx, s)
	syncer.Lock()
	wasDown := syncer.down
	syncer.down = err != nil
	syncer.Unlock()
	if err != nil {
		if !wasDown && logger != nil {
			logger.Warn("cannot read balancer overrides from storage; the last known state stays in force", zap.Error(err))
		}
		return
	}
	if wasDown && logger != nil {
		logger.Info("balancer overrides readable from storage again")
	}
	setMu.Lock()
	defer setMu.Unlock()
	if changes.Load() != seq {
		return // a change was made here while reading: the next poll sees it
	}
	for _, b := range Balancers() {
		b.mu.Lock()
		b.stored = found[b.name]
		if b.stored == nil {
			b.stored = map[string]*Override{}
		}
		b.applyLocked()
		b.mu.Unlock()
	}
}

func readAll(ctx context.Context, s certmagic.Storage) (map[string]map[string]*Override, error) {
	keys, err := s.List(ctx, StoragePrefix, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	found := map[string]map[string]*Override{}
	for _, key := range keys {
		name, route, ok := parseKey(key)
		if !ok {
			continue
		}
		raw, err := s.Load(ctx, key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since it was listed
		}
		if err != nil {
			return nil, err
		}
		var o Override
		if err := json.Unmarshal(raw, &o); err != nil || o.empty() {
			continue
		}
		if found[name] == nil {
			found[name] = map[string]*Override{}
		}
		found[name][route] = &o
	}
	return found, nil
}

// Change is a runtime change of a member: nil fields keep what is there;
// Clear* return the field to the configuration's value.
type Change struct {
	Status      *string
	ClearStatus bool
	Weight      *int
	ClearWeight bool
}

// ErrStorage means the change could not be stored; nothing changed.
var ErrStorage = errors.New("cannot store the override")

// Set applies a change to the member with the route: stored first, so
// every instance sharing the storage gets it, then in force here at once.
// It returns the override before and after (nil for none).
func (b *Balancer) Set(ctx context.Context, route string, c Change, by string) (before, after *Override, err error) {
	m := b.Member(route)
	if m == nil {
		return nil, nil, fmt.Errorf("balancer %s has no member with route %q", b.name, route)
	}
	if c.Status != nil && !ValidStatus(*c.Status) {
		return nil, nil, fmt.Errorf("status %q: want one of active, drain, disabled, stopped, standby", *c.Status)
	}
	if c.Weight != nil && (*c.Weight < MinWeight || *c.Weight > MaxWeight) {
		return nil, nil, fmt.Errorf("loadfactor %d: want %d to %d", *c.Weight, MinWeight, MaxWeight)
	}
	if c.Weight != nil && b.CustomFallback() {
		return nil, nil, fmt.Errorf("loadfactor: balancer %s spreads new sessions with a policy of its own (lbmethod bybusyness or a fallback), which has no loadfactors", b.name)
	}
	s, _ := currentStorage()
	if s == nil {
		return nil, nil, fmt.Errorf("%w: no storage", ErrStorage)
	}
	setMu.Lock()
	defer setMu.Unlock()
	before = m.Override()
	next := Override{}
	if before != nil {
		next = *before
	}
	switch {
	case c.ClearStatus:
		next.Status = ""
	case c.Status != nil:
		next.Status = *c.Status
	}
	switch {
	case c.ClearWeight:
		next.Weight = 0
	case c.Weight != nil:
		next.Weight = *c.Weight
	}
	next.Upstream, next.SetAt, next.By = m.Config().Upstream, time.Now().UTC(), by
	key := storageKey(b.name, route)
	if next.empty() {
		if err := s.Delete(ctx, key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return before, before, fmt.Errorf("%w: %v", ErrStorage, err)
		}
	} else {
		raw, _ := json.Marshal(next)
		if err := s.Store(ctx, key, raw); err != nil {
			return before, before, fmt.Errorf("%w: %v", ErrStorage, err)
		}
	}
	b.mu.Lock()
	if next.empty() {
		delete(b.stored, route)
	} else {
		b.stored[route] = &next
	}
	b.applyLocked()
	b.mu.Unlock()
	changes.Add(1)
	return before, m.Override(), nil
}

// setMu orders changes made in this process and the polls that apply what
// storage holds; changes counts the changes, so a poll that read storage
// before one was made does not undo it.
var (
	setMu   sync.Mutex
	changes atomic.Uint64
)

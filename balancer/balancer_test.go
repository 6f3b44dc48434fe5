package balancer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func ptr[T any](v T) *T { return &v }

// fileStorage is Caddy's default storage in a temporary folder, used by
// this test from here on.
func fileStorage(t *testing.T) *certmagic.FileStorage {
	t.Helper()
	s := &certmagic.FileStorage{Path: t.TempDir()}
	UseStorage(s, zap.NewNop())
	return s
}

func twoMembers() []MemberConfig {
	return []MemberConfig{
		{Route: "tomcat1", Upstream: "127.0.0.1:8010"},
		{Route: "tomcat2", Upstream: "127.0.0.1:8011", Status: StatusDrain, Weight: 3},
	}
}

func TestJoinKeepsCountersAndOverridesAcrossReloads(t *testing.T) {
	fileStorage(t)
	b, ms := Join("reload-test", twoMembers(), JoinOptions{})
	ms[0].Requests.Add(5)
	if _, _, err := b.Set(context.Background(), "tomcat1", Change{Status: ptr(StatusStopped)}, "test"); err != nil {
		t.Fatal(err)
	}
	// the new config joins before the old one leaves, as Caddy reloads
	b2, ms2 := Join("reload-test", twoMembers(), JoinOptions{})
	b.Leave()
	if b2 != b || ms2[0] != ms[0] {
		t.Fatal("a reload made a new balancer or member: counters and overrides would be lost")
	}
	if got := ms2[0].Requests.Load(); got != 5 {
		t.Errorf("requests %d after reload, want 5", got)
	}
	if got := ms2[0].Status(); got != StatusStopped {
		t.Errorf("status %q after reload, want the override stopped", got)
	}
	if got, w := ms2[1].Status(), ms2[1].Weight(); got != StatusDrain || w != 3 {
		t.Errorf("configured member: %q/%d, want drain/3", got, w)
	}
	b2.Leave()
	if Lookup("reload-test") != nil {
		t.Error("the balancer is still registered after its last policy left")
	}
}

func TestSetStoresAndClears(t *testing.T) {
	s := fileStorage(t)
	b, ms := Join("set-test", twoMembers(), JoinOptions{})
	defer b.Leave()
	ctx := context.Background()
	if b.Plain() {
		t.Fatal("a member with status drain and a loadfactor: not plain")
	}
	if _, after, err := b.Set(ctx, "tomcat1", Change{Status: ptr(StatusDrain), Weight: ptr(7)}, "127.0.0.1:5555"); err != nil || after == nil {
		t.Fatalf("set: %v", err)
	}
	raw, err := s.Load(ctx, "ajp/balancers/set-test/tomcat1.json")
	if err != nil {
		t.Fatalf("override not stored: %v", err)
	}
	for _, want := range []string{`"status":"drain"`, `"loadfactor":7`, `"upstream":"127.0.0.1:8010"`, `"by":"127.0.0.1:5555"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("stored %s lacks %s", raw, want)
		}
	}
	if ms[0].Status() != StatusDrain || ms[0].Weight() != 7 {
		t.Errorf("in force: %q/%d", ms[0].Status(), ms[0].Weight())
	}
	// clearing one field keeps the other
	if _, _, err := b.Set(ctx, "tomcat1", Change{ClearStatus: true}, "x"); err != nil {
		t.Fatal(err)
	}
	if ms[0].Status() != StatusActive || ms[0].Weight() != 7 {
		t.Errorf("after clearing the status: %q/%d, want active/7", ms[0].Status(), ms[0].Weight())
	}
	if _, _, err := b.Set(ctx, "tomcat1", Change{ClearWeight: true}, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, "ajp/balancers/set-test/tomcat1.json"); err == nil {
		t.Error("an override with nothing left is still stored")
	}
	if ms[0].Override() != nil {
		t.Error("an empty override is still in force")
	}
	for _, c := range []Change{{Status: ptr("paused")}, {Weight: ptr(0)}, {Weight: ptr(101)}} {
		if _, _, err := b.Set(ctx, "tomcat1", c, "x"); err == nil {
			t.Errorf("change %+v accepted", c)
		}
	}
	if _, _, err := b.Set(ctx, "tomcat9", Change{Status: ptr(StatusDrain)}, "x"); err == nil {
		t.Error("a change for an unknown route was accepted")
	}
	if ms[1].Override() != nil {
		t.Error("a change touched another member")
	}
}

// TestAnotherInstancesChangeIsPolled: what another Caddy instance stored
// is in force after a poll.
func TestAnotherInstancesChangeIsPolled(t *testing.T) {
	s := fileStorage(t)
	b, ms := Join("poll-test", twoMembers(), JoinOptions{})
	defer b.Leave()
	dir := filepath.Join(s.Path, "ajp", "balancers", "poll-test")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tomcat1.json"),
		[]byte(`{"status":"stopped","upstream":"127.0.0.1:8010","set_at":"2026-12-01T10:00:00Z","by":"other"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	Sync(context.Background())
	if ms[0].Status() != StatusStopped {
		t.Fatalf("status %q after a poll, want stopped", ms[0].Status())
	}
	if err := os.Remove(filepath.Join(dir, "tomcat1.json")); err != nil {
		t.Fatal(err)
	}
	Sync(context.Background())
	if ms[0].Status() != StatusActive {
		t.Errorf("status %q after the override was removed, want active", ms[0].Status())
	}
}

// TestOverrideForAnotherUpstreamIsOrphaned: an override is never applied to
// a different upstream that now has the route, nor kept for a route that
// is gone; both are reported.
func TestOverrideForAnotherUpstreamIsOrphaned(t *testing.T) {
	fileStorage(t)
	b, _ := Join("orphan-test", twoMembers(), JoinOptions{})
	if _, _, err := b.Set(context.Background(), "tomcat1", Change{Status: ptr(StatusDrain)}, "x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Set(context.Background(), "tomcat2", Change{Status: ptr(StatusStopped)}, "x"); err != nil {
		t.Fatal(err)
	}
	// a reload: tomcat1 now names another upstream, tomcat2 is gone
	b2, ms := Join("orphan-test", []MemberConfig{{Route: "tomcat1", Upstream: "10.0.0.9:8010"}}, JoinOptions{})
	b.Leave()
	defer b2.Leave()
	if ms[0].Status() != StatusActive || ms[0].Override() != nil {
		t.Errorf("the override for 127.0.0.1:8010 applies to 10.0.0.9:8010: %q", ms[0].Status())
	}
	orphans := b2.Orphans()
	if len(orphans) != 2 || orphans[0].Route != "tomcat1" || orphans[1].Route != "tomcat2" ||
		!strings.Contains(orphans[0].Reason, "10.0.0.9:8010") || !strings.Contains(orphans[1].Reason, "no member") {
		t.Errorf("orphans %+v", orphans)
	}
}

// failingStorage is a storage that is down.
type failingStorage struct{ certmagic.FileStorage }

var errDown = errors.New("storage is down")

func (failingStorage) List(context.Context, string, bool) ([]string, error) { return nil, errDown }
func (failingStorage) Store(context.Context, string, []byte) error          { return errDown }

func TestStorageDownKeepsTheLastStateAndWarnsOnce(t *testing.T) {
	fileStorage(t)
	b, ms := Join("down-test", twoMembers(), JoinOptions{})
	defer b.Leave()
	if _, _, err := b.Set(context.Background(), "tomcat1", Change{Status: ptr(StatusDrain)}, "x"); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	UseStorage(&failingStorage{}, zap.New(core))
	Sync(context.Background())
	Sync(context.Background())
	if ms[0].Status() != StatusDrain {
		t.Errorf("status %q with the storage down, want the last known drain", ms[0].Status())
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
		t.Errorf("%d WARN lines for a storage that stayed down, want 1", n)
	}
	if _, _, err := b.Set(context.Background(), "tomcat2", Change{Status: ptr(StatusStopped)}, "x"); !errors.Is(err, ErrStorage) {
		t.Errorf("a change with the storage down: %v, want ErrStorage", err)
	}
	if ms[1].Status() != StatusDrain {
		t.Errorf("a change that could not be stored is in force: %q", ms[1].Status())
	}
}

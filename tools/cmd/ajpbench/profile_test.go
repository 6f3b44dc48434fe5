package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Two one-second profiles of the test itself, fetched as from Caddy's admin
// endpoint (the same net/http/pprof handler) and merged into one that go
// build -pgo reads: gzipped protobuf.
func TestProfilesAreFetchedAndMergedForPGO(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool pprof merges the profiles: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"a.pprof", "b.pprof"} {
		p := filepath.Join(dir, name)
		if err := fetchProfile(context.Background(), srv.URL, 1, p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out := filepath.Join(dir, "pgo", "merged.pgo")
	if err := mergeProfiles(context.Background(), goBin, paths, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("merged profile: %d bytes, %v; want gzipped protobuf", len(b), err)
	}
	if err := mergeProfiles(context.Background(), goBin, nil, out); err == nil {
		t.Error("merging no profile succeeded")
	}
	if err := fetchProfile(context.Background(), srv.URL+"/nothing", 1, filepath.Join(dir, "c.pprof")); err == nil {
		t.Error("a 404 was taken for a profile")
	}
}

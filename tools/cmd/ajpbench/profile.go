package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// profileLead is how long after the load starts caddy-ajp's CPU profile
// begins, and at least how much earlier than the load it ends: the load
// tools open their connections (and the mix client's users learn their
// ETags) at the start, and stop at the end, and neither is what a profile
// for -pgo should describe.
const profileLead = 500 * time.Millisecond

// profileSeconds is the length of the profile of a run of d: pprof counts
// whole seconds.
func profileSeconds(d time.Duration) int {
	return max(1, int((d-2*profileLead)/time.Second))
}

// startProfile takes a CPU profile of caddy-ajp during the measured run of
// sc that is about to start, through Caddy's admin endpoint, into the run's
// working directory; the channel says when it is written, or why not.
// Cancelling ctx abandons it.
func (b *bench) startProfile(ctx context.Context, sc scenario, round int) <-chan error {
	done := make(chan error, 1)
	path := filepath.Join(b.cfg.dir, "profiles", fmt.Sprintf("%s-round%d.pprof", sc.Name, round))
	seconds := profileSeconds(b.cfg.durationFor(sc))
	go func() {
		select {
		case <-time.After(profileLead):
		case <-ctx.Done():
			done <- ctx.Err()
			return
		}
		err := fetchProfile(ctx, b.pprofURL, seconds, path)
		if err == nil {
			b.mu.Lock()
			b.profiles = append(b.profiles, path)
			b.mu.Unlock()
		}
		done <- err
	}()
	return done
}

// fetchProfile asks the admin endpoint at base for a CPU profile of seconds
// and writes it to path.
func fetchProfile(ctx context.Context, base string, seconds int, path string) error {
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("CPU profile from %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CPU profile from %s: %s: %s", url, resp.Status, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, body, 0o644)
}

// mergeProfiles writes the merge of the profiles to out with `go tool
// pprof -proto`, the format go build -pgo reads; the profiles carry their
// symbols, so nothing needs the binary.
func mergeProfiles(ctx context.Context, goBin string, profiles []string, out string) error {
	if len(profiles) == 0 {
		return errors.New("no CPU profile was taken, none to merge")
	}
	args := append([]string{"tool", "pprof", "-proto", "-symbolize=none"}, profiles...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("merging %d CPU profiles (go tool pprof -proto): %w\n%s", len(profiles), err, stderr.Bytes())
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, stdout.Bytes(), 0o644)
}

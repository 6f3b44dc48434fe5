package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// run is one measured run with round numbers that make the medians easy to
// check by hand.
func fakeRun(round int, sc, fe string, rps float64, requests int64, p99 time.Duration, proxyCPU, tomcatCPU float64, parks uint64) runResult {
	return runResult{
		Round: round, Scenario: sc, Frontend: fe,
		wrkResult:      wrkResult{Requests: requests, RPS: rps, P50: p99 / 4, P99: p99},
		HasProxy:       true,
		ProxyCPU:       proxyCPU,
		TomcatCPU:      tomcatCPU,
		TomcatSwitches: parks,
		Wall:           10,
	}
}

func fakeBench() *bench {
	b := &bench{cfg: config{rounds: 3, frontends: []string{apacheProxyAJP, caddyAJP}}}
	for _, name := range []string{"tiny", "post64k"} {
		for _, sc := range allScenarios {
			if sc.Name == name {
				b.cfg.scenarios = append(b.cfg.scenarios, sc)
			}
		}
	}
	// Apache: 20 000 req/s on the tiny page, 0.5 s proxy and 0.3 s Tomcat
	// CPU per 10k requests, 0.7 parks per request.
	for r := 1; r <= 3; r++ {
		b.results = append(b.results,
			fakeRun(r, "tiny", apacheProxyAJP, 20000, 200000, 7*time.Millisecond, 10, 6, 140000),
			fakeRun(r, "post64k", apacheProxyAJP, 3000, 30000, 12*time.Millisecond, 6, 9, 360000),
		)
	}
	// caddy-ajp: rates 24 000 (1.2×, met), 25 000 and a noisy 10 000 round
	// whose median is 24 000; p99 equal to Apache's (met: "no worse").
	for r, rps := range []float64{24000, 25000, 10000} {
		req := int64(rps * 10)
		b.results = append(b.results,
			fakeRun(r+1, "tiny", caddyAJP, rps, req, 7*time.Millisecond, float64(req)*0.6/10000, float64(req)*0.5/10000, uint64(req)*2),
			fakeRun(r+1, "post64k", caddyAJP, 2700, 27000, 13*time.Millisecond, 6, 10.8, 27000*15),
		)
	}
	return b
}

func TestSummaryTakesMediansPerRequest(t *testing.T) {
	b := fakeBench()
	s, ok := b.summary("tiny", caddyAJP)
	if !ok {
		t.Fatal("no summary for caddy-ajp")
	}
	if s.Runs != 3 || s.RPS != 24000 {
		t.Errorf("runs %d, median rps %v; want 3, 24000", s.Runs, s.RPS)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"proxy CPU s/10k", s.CPU10k, 0.6}, {"Tomcat CPU s/10k", s.Tomcat10k, 0.5}, {"parks/req", s.TomcatSwitches, 2}} {
		if c.got < c.want-1e-9 || c.got > c.want+1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if _, ok := b.summary("1MiB", caddyAJP); ok {
		t.Error("a summary for a scenario that never ran")
	}
}

func TestTargetsAreJudgedOnTheMedians(t *testing.T) {
	out := renderTargets(fakeBench())
	for _, want := range []string{
		"| tiny: median req/s ≥ 1.2 × Apache's | 24000 (1.20×) | 20000 | yes |",
		"| post64k: median req/s ≥ Apache's | 2700 (0.90×) | 3000 | **no** |",
		"| tiny: p99 ≤ Apache's | 7.00 ms | 7.00 ms | yes |",
		"| post64k: p99 ≤ Apache's | 13.0 ms | 12.0 ms | **no** |",
		"| tiny: proxy CPU s/10k requests ≤ Apache's | 0.60 | 0.50 | **no** |",
		"| post64k: proxy CPU s/10k requests ≤ Apache's | 2.22 | 2.00 | **no** |",
		"2 of 6 targets met.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("targets lack %q:\n%s", want, out)
		}
	}
}

func TestAnalysisQuotesThisRunsNumbers(t *testing.T) {
	out := renderAnalysis(fakeBench())
	for _, want := range []string{
		"the proxy 50 µs and Tomcat 30 µs behind apache-proxy_ajp, and the proxy 60 µs and Tomcat 50 µs behind caddy-ajp",
		"(1.67×)",
		"2.00 times per request behind caddy-ajp, 0.70 behind Apache",
		"Tomcat parked 15.0 times per POST behind caddy-ajp and 12.0 behind Apache, and spent 1.33× the CPU",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("analysis lacks %q:\n%s", want, out)
		}
	}
	// Without both front ends there is nothing to compare.
	b := fakeBench()
	b.results = b.results[:2] // Apache only
	if got := renderAnalysis(b); got != "" {
		t.Errorf("analysis without caddy-ajp: %q", got)
	}
}

func TestVoluntarySwitchesCountsThisProcessesThreads(t *testing.T) {
	before := voluntarySwitches(os.Getpid())
	for range 5 {
		time.Sleep(2 * time.Millisecond) // each sleep parks a thread
	}
	after := voluntarySwitches(os.Getpid())
	if after < before+5 {
		t.Errorf("voluntary switches went from %d to %d over 5 sleeps", before, after)
	}
	if got := voluntarySwitches(-1); got != 0 {
		t.Errorf("no such process: %d, want 0", got)
	}
}

func TestIssue16TargetsTakeTheBetterApacheSizing(t *testing.T) {
	b := &bench{cfg: config{rounds: 1, frontends: []string{apacheProxyAJP, apacheDebian, caddyAJP}}}
	b.cfg.scenarios, _ = selectScenarios("tiny,h2-tiny,h2-mix")
	add := func(sc, fe string, rps float64, p99 time.Duration, errs int64) {
		r := fakeRun(1, sc, fe, rps, int64(rps*10), p99, 1, 1, 1)
		r.Read = errs
		b.results = append(b.results, r)
	}
	// h2-tiny: the Debian sizing is the better Apache; caddy-ajp reaches
	// 1.5× it, but its p99 is worse: the rate is met, the scenario is not.
	add("h2-tiny", apacheProxyAJP, 2000, 50*time.Millisecond, 0)
	add("h2-tiny", apacheDebian, 3000, 40*time.Millisecond, 0)
	add("h2-tiny", caddyAJP, 4500, 45*time.Millisecond, 0)
	// tiny: 1.0× with a better p99 but one error.
	// The Debian sizing is faster here, but dropped connections.
	add("tiny", apacheProxyAJP, 5000, 9*time.Millisecond, 0)
	add("tiny", apacheDebian, 6000, 8*time.Millisecond, 3)
	add("tiny", caddyAJP, 5000, 8*time.Millisecond, 1)
	// h2-mix: rate missed, so p99 is not judged.
	add("h2-mix", apacheProxyAJP, 1000, 900*time.Millisecond, 0)
	add("h2-mix", caddyAJP, 1400, 500*time.Millisecond, 0)
	out := renderIssue16Targets(b)
	for _, want := range []string{
		"| h2-tiny | ≥ 1.5× | 4500 | 3000 (proxy_ajp-debian) | 1.50× | yes | 45.0 ms | 40.0 ms | **no** | 0 | **no** |",
		"| tiny | ≥ 1.0× | 5000 | 5000 (proxy_ajp) | 1.00× | yes | 8.00 ms | 9.00 ms | yes | 1 | **no** |",
		"| h2-mix | ≥ 1.5× | 1400 | 1000 (proxy_ajp) | 1.40× | **no** | 500 ms | 900 ms | — (rate not met) | 0 | **no** |",
		"0 of 3 scenarios meet every target",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("targets lack %q:\n%s", want, out)
		}
	}
	tables := renderTables(b)
	if !strings.Contains(tables, "Ratios against apache-proxy_ajp-debian") || !strings.Contains(tables, "| **caddy-ajp** | 4500 | 1.50× |") {
		t.Errorf("h2-tiny table not against the Debian sizing:\n%s", tables)
	}
	if !strings.Contains(tables, "h2load 2 threads, 50 connections × 4 streams") || !strings.Contains(tables, "mix client, 50 users") {
		t.Errorf("tables do not name the load generators:\n%s", tables)
	}

	b.cfg.frontends = []string{caddyAJP}
	b.results = b.results[2:3]
	if out := renderIssue16Targets(b); !strings.Contains(out, "Not checked") {
		t.Errorf("without Apache:\n%s", out)
	}
}

// With tiny-3k in the run, the equal-load comparison is this run's numbers;
// without it, the dated record of the run that had it.
func TestEqualLoadComesFromTheRunWhenItHasTiny3k(t *testing.T) {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	b := &bench{cfg: config{rounds: 1}}
	renderEqualLoad(b, p)
	if !strings.Contains(w.String(), "measured apart from this run, 2026-12-02") {
		t.Errorf("without tiny-3k:\n%s", w.String())
	}
	w.Reset()
	// 30 000 requests each; Tomcat 3.0 s and 2.0 s, proxy 4.5 s and 3.0 s
	b.results = append(b.results,
		fakeRun(1, "tiny-3k", caddyAJP, 3000, 30000, 8*time.Millisecond, 4.5, 3.0, 60000),
		fakeRun(1, "tiny-3k", apacheProxyAJP, 3000, 30000, 6*time.Millisecond, 3.0, 2.0, 45000))
	renderEqualLoad(b, p)
	for _, want := range []string{"same 3000 req/s", "1.00 s/10k requests behind caddy-ajp and 0.67 behind apache-proxy_ajp (1.50×)", "parking 2.00 and 1.50", "caddy-ajp 1.50 s/10k, apache-proxy_ajp 1.00 (1.50×)"} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("missing %q in:\n%s", want, w.String())
		}
	}
}

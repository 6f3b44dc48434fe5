package main

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

// runResult is one measured wrk run and what was measured around it.
type runResult struct {
	Round    int
	Scenario string
	Frontend string
	wrkResult
	HasProxy  bool    // false for tomcat-direct
	Wall      float64 // seconds the wrk process ran
	ProxyCPU  float64 // seconds of the proxy's process tree
	TomcatCPU float64 // seconds of both JVMs
	// TomcatSwitches counts the times a thread of either JVM parked.
	TomcatSwitches uint64
	OtherCPU       float64   // seconds of everything else on the machine
	Mem            memSample // peaks of the proxy's process tree
}

// per10k is cpu seconds per 10 000 completed requests.
func (r runResult) per10k(cpu float64) float64 {
	if r.Requests == 0 {
		return math.NaN()
	}
	return cpu / float64(r.Requests) * 10000
}

func (r runResult) perRequest(v float64) float64 {
	if r.Requests == 0 {
		return math.NaN()
	}
	return v / float64(r.Requests)
}

// summary is one front end in one scenario over all rounds.
type summary struct {
	Frontend          string
	Runs              int
	RPS               float64 // median
	P50, P99          time.Duration
	Errors            int64   // sum over the rounds
	CPU10k, Tomcat10k float64 // median
	TomcatSwitches    float64 // median per request
	PeakRSS           uint64  // max over the rounds
	HasProxy          bool
}

func (b *bench) summary(sc, fe string) (summary, bool) {
	s := summary{Frontend: fe}
	var rps, p50, p99, cpu, tc, sw []float64
	for _, r := range b.results {
		if r.Scenario != sc || r.Frontend != fe {
			continue
		}
		s.Runs++
		s.HasProxy = r.HasProxy
		rps = append(rps, r.RPS)
		p50 = append(p50, float64(r.P50))
		p99 = append(p99, float64(r.P99))
		cpu = append(cpu, r.per10k(r.ProxyCPU))
		tc = append(tc, r.per10k(r.TomcatCPU))
		sw = append(sw, r.perRequest(float64(r.TomcatSwitches)))
		s.Errors += r.Errors()
		s.PeakRSS = max(s.PeakRSS, r.Mem.rss)
	}
	if s.Runs == 0 {
		return s, false
	}
	s.RPS = median(rps)
	s.P50, s.P99 = time.Duration(median(p50)), time.Duration(median(p99))
	s.CPU10k, s.Tomcat10k = median(cpu), median(tc)
	s.TomcatSwitches = median(sw)
	return s, true
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func fmtDur(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d <= 0:
		return "—"
	case ms < 10:
		return fmt.Sprintf("%.2f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.2f s", ms/1000)
}

func fmtNum(v float64, prec int) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func mib(bytes uint64) float64 { return float64(bytes) / (1 << 20) }

// bestApache is the better of the Apache sizings in scenario sc: the
// reference of the ratios and of issue 16's targets. Better is the higher
// median req/s among the sizings without errors (Debian's drops keep-alive
// connections under load), or among all if each had errors.
func (b *bench) bestApache(sc string) (summary, bool) {
	var best summary
	found := false
	for _, fe := range apacheSizings {
		s, ok := b.summary(sc, fe)
		if !ok {
			continue
		}
		cleaner := (s.Errors == 0) != (best.Errors == 0)
		if !found || cleaner && s.Errors == 0 || !cleaner && s.RPS > best.RPS {
			best, found = s, true
		}
	}
	return best, found
}

// renderTables is one table per scenario of the medians over the rounds.
func renderTables(b *bench) string {
	var w strings.Builder
	for _, sc := range b.cfg.scenarios {
		base, hasBase := b.bestApache(sc.Name)
		fmt.Fprintf(&w, "### %s: %s; %s\n\n", sc.Name, sc.Desc, sc.load())
		if hasBase {
			fmt.Fprintf(&w, "Ratios against %s, the better of the Apache sizings measured here.\n\n", base.Frontend)
		}
		w.WriteString("| front end | req/s | vs Apache | p50 | p99 | errors | proxy CPU s/10k req | proxy peak RSS MiB | Tomcat CPU s/10k req | Tomcat thread parks/req |\n")
		w.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, fe := range b.cfg.frontends {
			s, ok := b.summary(sc.Name, fe)
			if !ok {
				continue
			}
			ratio, cpu, rss := "—", "—", "—"
			if hasBase && base.RPS > 0 {
				ratio = fmt.Sprintf("%.2f×", s.RPS/base.RPS)
			}
			if s.HasProxy {
				cpu, rss = fmtNum(s.CPU10k, 2), fmtNum(mib(s.PeakRSS), 1)
			}
			name := fe
			if fe == caddyAJP {
				name = "**" + fe + "**"
			}
			fmt.Fprintf(&w, "| %s | %.0f | %s | %s | %s | %d | %s | %s | %s | %s |\n",
				name, s.RPS, ratio, fmtDur(s.P50), fmtDur(s.P99), s.Errors, cpu, rss, fmtNum(s.Tomcat10k, 2), fmtNum(s.TomcatSwitches, 2))
		}
		w.WriteString("\n")
	}
	return strings.TrimRight(w.String(), "\n")
}

// issue16Targets are the rates caddy-ajp must reach against the better
// Apache sizing, per scenario.
var issue16Targets = []struct {
	sc     string
	factor float64
}{
	{"h2-tiny", 1.5}, {"h2-mix", 1.5}, {"h2-1MiB", 1.5}, {"h2-post64k", 1.2},
	{"tls-tiny", 1.2}, {"tls-1MiB", 1.3}, {"tls-post64k", 1.0},
	{"tiny", 1.0}, {"post64k", 1.0}, {"c1000", 1.0},
}

// renderIssue16Targets checks issue 16's targets: per scenario the median
// rate against the better Apache sizing, p99 no worse than that Apache's
// where the rate is met, and no error in any round.
func renderIssue16Targets(b *bench) string {
	var w strings.Builder
	fmt.Fprintf(&w, "### Issue 16 targets: %s against the better Apache sizing (%s) in the same run\n\n", caddyAJP, strings.Join(apacheSizings, " or "))
	w.WriteString("| scenario | target | caddy-ajp req/s | Apache req/s (sizing) | ratio | rate met | caddy-ajp p99 | Apache p99 | p99 met | caddy-ajp errors | all met |\n")
	w.WriteString("|---|--:|--:|--:|--:|---|--:|--:|---|--:|---|\n")
	met, total := 0, 0
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	for _, t := range issue16Targets {
		c, ok1 := b.summary(t.sc, caddyAJP)
		a, ok2 := b.bestApache(t.sc)
		if !ok1 || !ok2 || a.RPS == 0 {
			continue
		}
		total++
		rateOK := c.RPS >= t.factor*a.RPS
		p99, p99OK := "— (rate not met)", false
		if rateOK {
			p99OK = c.P99 <= a.P99
			p99 = yes(p99OK)
		}
		all := rateOK && p99OK && c.Errors == 0
		if all {
			met++
		}
		fmt.Fprintf(&w, "| %s | ≥ %.1f× | %.0f | %.0f (%s) | %.2f× | %s | %s | %s | %s | %d | %s |\n",
			t.sc, t.factor, c.RPS, a.RPS, strings.TrimPrefix(a.Frontend, "apache-"), c.RPS/a.RPS, yes(rateOK),
			fmtDur(c.P99), fmtDur(a.P99), p99, c.Errors, yes(all))
	}
	if total == 0 {
		return w.String()[:strings.Index(w.String(), "\n\n")+2] + "Not checked: this run did not include caddy-ajp, an Apache sizing and a scenario with a target.\n"
	}
	fmt.Fprintf(&w, "\n%d of %d scenarios meet every target (rate, p99 where the rate is met, 0 errors).\n", met, total)
	return w.String()
}

// renderTargets checks issue 5's targets on the medians.
func renderTargets(b *bench) string {
	var w strings.Builder
	fmt.Fprintf(&w, "### Issue 5 targets: %s against %s (the benchmark's sizing) in the same run, plain HTTP\n\n", caddyAJP, apacheProxyAJP)
	if !slices.Contains(b.cfg.frontends, caddyAJP) || !slices.Contains(b.cfg.frontends, apacheProxyAJP) {
		w.WriteString("Not checked: this run did not include both front ends.\n")
		return w.String()
	}
	w.WriteString("| target | caddy-ajp | apache-proxy_ajp | met |\n|---|--:|--:|---|\n")
	met, total := 0, 0
	row := func(target, c, a string, ok bool) {
		total++
		verdict := "**no**"
		if ok {
			met++
			verdict = "yes"
		}
		fmt.Fprintf(&w, "| %s | %s | %s | %s |\n", target, c, a, verdict)
	}
	for _, t := range []struct {
		sc     string
		factor float64
	}{{"tiny", 1.2}, {"1MiB", 1}, {"post64k", 1}} {
		c, ok1 := b.summary(t.sc, caddyAJP)
		a, ok2 := b.summary(t.sc, apacheProxyAJP)
		if !ok1 || !ok2 {
			continue
		}
		target := fmt.Sprintf("%s: median req/s ≥ Apache's", t.sc)
		if t.factor != 1 {
			target = fmt.Sprintf("%s: median req/s ≥ %.1f × Apache's", t.sc, t.factor)
		}
		row(target, fmt.Sprintf("%.0f (%.2f×)", c.RPS, c.RPS/a.RPS), fmt.Sprintf("%.0f", a.RPS), c.RPS >= t.factor*a.RPS)
	}
	for _, sc := range b.cfg.scenarios {
		c, ok1 := b.summary(sc.Name, caddyAJP)
		a, ok2 := b.summary(sc.Name, apacheProxyAJP)
		if !ok1 || !ok2 || sc.Proto != protoHTTP {
			continue
		}
		row(sc.Name+": p99 ≤ Apache's", fmtDur(c.P99), fmtDur(a.P99), c.P99 <= a.P99)
	}
	for _, sc := range b.cfg.scenarios {
		if sc.Proto != protoHTTP {
			continue
		}
		c, ok1 := b.summary(sc.Name, caddyAJP)
		a, ok2 := b.summary(sc.Name, apacheProxyAJP)
		if !ok1 || !ok2 {
			continue
		}
		row(sc.Name+": proxy CPU s/10k requests ≤ Apache's", fmtNum(c.CPU10k, 2), fmtNum(a.CPU10k, 2), c.CPU10k <= a.CPU10k)
	}
	fmt.Fprintf(&w, "\n%d of %d targets met. Not measured by `make bench`: memory staying flat while a 1 GiB response streams to a slow client.\n", met, total)
	return w.String()
}

// renderAnalysis explains, with this run's numbers, where the CPU of a
// small request goes, and lists what was tried to make caddy-ajp faster.
func renderAnalysis(b *bench) string {
	a, ok1 := b.summary("tiny", apacheProxyAJP)
	c, ok2 := b.summary("tiny", caddyAJP)
	if !ok1 || !ok2 || a.Tomcat10k == 0 {
		return ""
	}
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	us := func(per10k float64) string { return fmtNum(per10k*100, 0) + " µs" } // s/10k → µs per request
	p("### Where the time goes on small requests\n\n")
	p("wrk, the proxy and both JVMs share the cores, so the tiny page's rate is what the cores can do divided by the CPU one request costs all of them. ")
	p("In this run one request cost the proxy %s and Tomcat %s behind %s, and the proxy %s and Tomcat %s behind caddy-ajp. ",
		us(a.CPU10k), us(a.Tomcat10k), apacheProxyAJP, us(c.CPU10k), us(c.Tomcat10k))
	p("The Tomcat part is the larger difference (%.2f×), although the JVMs, the page and the AJP traffic are the same "+
		"(Tomcat answers in three writes, SEND_HEADERS, SEND_BODY_CHUNK and END_RESPONSE, whoever asks; both front ends send one FORWARD_REQUEST; 7 TCP segments per request through either). ",
		c.Tomcat10k/a.Tomcat10k)
	p("The difference is in how often Tomcat's threads go to sleep: %.2f times per request behind caddy-ajp, %.2f behind Apache. ", c.TomcatSwitches, a.TomcatSwitches)
	p("Tomcat's NIO connector hands every request from its poller thread to a worker thread; when nothing else is waiting, each handoff parks and wakes a thread (futex, epoll_ctl, epoll_wait), several microseconds of JVM and kernel time. ")
	p("Behind Apache, Tomcat is the busier side: work is queued, threads rarely park. Behind Caddy, Caddy's own CPU per request is the larger, Caddy is the busier side, and Tomcat runs dry after almost every request. ")
	p("Measured apart from this run (perf, strace, wrk at 4/10/25 connections, 2026-11-25): at 4 connections Tomcat parks ~3 times per request behind either proxy; from 25 connections on, behind Apache under 1, behind caddy-ajp ~2.6. ")
	p("At 4 connections Caddy takes ~81 µs of CPU per request against Apache's ~62 µs.\n\n")
	renderEqualLoad(b, p)
	if pa, ok1 := b.summary("post64k", apacheProxyAJP); ok1 {
		if pc, ok2 := b.summary("post64k", caddyAJP); ok2 && pa.Tomcat10k > 0 {
			p("The 64 KiB POST shows the same at every GET_BODY_CHUNK: Tomcat asks for the next 8 KiB of the body and reads at once; the answer is there if the proxy was quicker than that read, else the thread parks until it comes. ")
			p("In this run Tomcat parked %.1f times per POST behind caddy-ajp and %.1f behind Apache, and spent %.2f× the CPU. ", pc.TomcatSwitches, pa.TomcatSwitches, pc.Tomcat10k/pa.Tomcat10k)
			p("strace of one node (2026-11-25): per POST, 3.0 of Tomcat's reads found nothing behind caddy-ajp, 0.6 behind Apache. An Apache worker is woken by the kernel straight from Tomcat's write and answers within microseconds; ")
			p("a goroutine is woken by Go's network poller and waits for a free processor first. Buffering the whole body in Caddy beforehand (`request_buffers 128k`) changes nothing: reading the client is not what takes the time.\n\n")
		}
	}
	p("Where Caddy's CPU goes (Go CPU profile of bin/caddy through its admin endpoint under `make pgo`'s seven scenarios, plain, HTTPS and HTTP/2, 55 s of samples, 2026-12-01; `go tool pprof -top pgo/caddy.pgo`): ")
	p("34%% in system calls, the reads and writes to the client and to Tomcat that both proxies make; the memory allocator ~10%% and garbage collection; ")
	p("growing goroutine stacks ~5%% (7–11%% on HTTP/2: each request runs in a new goroutine whose stack starts small, and Caddy's handler chain is deep); ")
	p("a zap logger `reverse_proxy` builds with the whole request for every round trip even at level WARN, ~4%%; the rest of Go's HTTP server and Caddy's `reverse_proxy` around the transport; ")
	p("the AJP transport outside its system calls ~7%%, of which the TLS facts it sends (before they were worked out once per connection) were 2%%. ")
	p("The in-process benchmark (`go test -run '^$' -bench Pipeline -benchmem .`: one request through Caddy's handler chain as `ajp_balancer` builds it, against a canned AJP container) counts 156 allocations per request, 8 of them the transport's; ")
	p("`ajp_balancer` (path map, sticky_route) costs 3 allocations more than a bare `reverse_proxy` with the AJP transport (8 before 2026-12-02). The rest is Caddy's, which this plugin does not change: ")
	p("the largest share, 25 allocations, is the logger `reverse_proxy` builds with the whole request for every round trip (`go tool pprof -list reverseProxy` on the benchmark's memory profile).\n\n")
	p("Tried, and kept or dropped:\n\n")
	p("- kept: 0 allocations to encode a request, 8 per round trip (was 16), no per-request timer when the deadline is still fresh, read-ahead of the response so Tomcat's three packets are taken in one read, a connection back in the pool before the client has its response.\n")
	p("- kept (2026-12-01): the TLS facts of a client connection (cipher, key size, ssl_session, client chain) worked out once per connection instead of per request (deriving ssl_session alone took 13.7 µs and 44 allocations); ")
	p("one read of the client's request body takes what has already arrived, up to 64 KiB, and answers the GET_BODY_CHUNKs that follow from it (fewer reads of the client and, over HTTP/2, fewer WINDOW_UPDATEs; Tomcat still gets nothing it did not ask for); ")
	p("prefetched response bytes served from the pooled buffer they were read into (no copy of up to 16 KiB per response); listener addresses formatted once. ")
	p("A/B of the binary before (a215bef) and after, interleaved, medians of 3 rounds (`BENCH_FRONTENDS=caddy-ajp,caddy-ajp-b … -caddy-b`), req/s before → after (proxy CPU s/10k req): ")
	p("tiny 8069 → 8782 (1.15 → 1.08), post64k 1898 → 1868 (3.49 → 3.33), tls-tiny 7482 → 7438 (1.27 → 1.26), tls-post64k 1628 → 1721 (4.09 → 3.82), ")
	p("h2-tiny 5540 → 6141 (1.93 → 1.70), h2-post64k 1345 → 1620 (5.78 → 4.61), h2-mix 3869 → 4317 (2.34 → 1.82).\n")
	p("- kept, too small to see in a run (2026-12-02, measured in the in-process benchmark): the path map reads a path that has nothing to decode, merge or resolve without allocating (3 allocations per request before), ")
	p("and sticky_route keeps a request's tried upstreams in one allocation and its session-route placeholder in a value boxed once (5 → 2 allocations for a sticky and a new request): 161 → 156 allocations per request through the whole chain.\n")
	p("- kept, no measurable change: a bodyless idempotent request skips the liveness peek (one recvfrom per request) of a connection back in the pool for under a second; a dead one is caught by the retry such a request already has. ")
	p("Two interleaved A/Bs, the second with the binaries swapped (2026-12-02, 3 rounds), skip / always peek, req/s: tiny 7163 / 7722 and 10860 / 10603, c1000 6636 / 6813 and 9414 / 9607, tls-tiny 6731 / 6313 and 10555 / 10055, h2-tiny 5168 / 5572 and 8209 / 8262 ")
	p("(the second run had 2 rounds of tls-tiny and h2-tiny: a snapshot of the virtual machine paused it in the third). Within the noise either way.\n")
	p("- kept, too small to see in a run: refusals logged from functions of their own, so their log fields no longer sit in the transport's stack frame on every request (1616 → 248 bytes; an HTTP/2 request's goroutine grew its stack there); the stack growth moved one call deeper, into Caddy's own frames and the response-header decoder.\n")
	p("- kept, no measurable change: profile-guided optimisation (`make build` with pgo/caddy.pgo, written by `make pgo`). With and without it, medians of 9 interleaved runs each (`BENCH_FRONTENDS=caddy-ajp,caddy-ajp-b BENCH_SCENARIOS=tiny,post64k,tls-tiny,h2-tiny,h2-mix BENCH_ROUNDS=3 bin/ajpbench -caddy bin/caddy -caddy-b bin/caddy-nopgo`, three times, once with the binaries swapped, 2026-12-01): ")
	p("tiny 6830 / 7200 req/s, post64k 1553 / 1447, tls-tiny 5563 / 5481, h2-tiny 4866 / 4866, h2-mix 3271 / 3412; proxy CPU 1.34 / 1.25, 4.00 / 4.02, 1.49 / 1.58, 2.11 / 2.11, 2.36 / 2.22 s/10k req; over the 45 pairs 0.99× the req/s and 1.01× the proxy CPU. It costs no build time (a full build ~2 min 10 s either way).\n")
	p("- dropped, no measurable change (2026-12-01, A/B in the same run, 3 rounds): copying a small prefetched response (≤ 512 bytes) into the exchange and giving the pooled buffer back at once, and decoding SEND_HEADERS with its scratch space outside the decoder's stack frame: tiny 7915 / 8236 req/s, c1000 7531 / 7120, h2-tiny 5281 / 5758, h2-mix 3584 / 3730 against the kept build. ")
	p("The same A/B says the lower c1000 ratio of the full run (0.69×, 0.83× in the previous one) is run-to-run noise, not the pooled prefetch buffer being held until the body is read.\n")
	p("- dropped, no measurable change: a FIFO instead of a LIFO connection pool; at most 10 or 25 connections per node; no X-Forwarded-*/Via headers; GOGC=400.\n")
	p("- dropped, slower: GOMAXPROCS=1 (−10%%); GOMAXPROCS=4 or 8 (Tomcat parks less, 1.7 per request at 8, but Caddy spends that much more: no gain); waiting for Tomcat's answer in a blocking ppoll, one thread per request as Apache does (−30%% on the tiny page; −25%% on the POST with a 100 µs ppoll after each body packet: the Go runtime hands the processor to another thread each time).\n")
	p("- not done, on purpose: sending the next request on a connection before Tomcat has finished the current one (Tomcat would find it without parking, but a request queued behind one whose body Tomcat has not read is read as that body), ")
	p("and sending request body packets Tomcat has not asked for (a packet Tomcat does not consume is parsed as the next request: request smuggling).\n\n")
	return w.String()
}

// renderRaw is every measured run.
func renderRaw(b *bench) string {
	var w strings.Builder
	w.WriteString("| round | scenario | front end | req/s | requests | p50 | p99 | errors c/r/w/t/≥400 | proxy CPU s | proxy CPU s/10k | Tomcat CPU s | Tomcat parks/req | wrk CPU s | other load (cores) | proxy procs | peak RSS MiB | peak PSS MiB |\n")
	w.WriteString("|--:|---|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range b.results {
		pcpu, p10k, procs, rss, pss := "—", "—", "—", "—", "—"
		if r.HasProxy {
			pcpu, p10k = fmtNum(r.ProxyCPU, 2), fmtNum(r.per10k(r.ProxyCPU), 2)
			procs, rss, pss = fmt.Sprint(r.Mem.procs), fmtNum(mib(r.Mem.rss), 1), fmtNum(mib(r.Mem.pss), 1)
		}
		fmt.Fprintf(&w, "| %d | %s | %s | %.0f | %d | %s | %s | %d/%d/%d/%d/%d | %s | %s | %.2f | %s | %.2f | %.2f | %s | %s | %s |\n",
			r.Round, r.Scenario, r.Frontend, r.RPS, r.Requests, fmtDur(r.P50), fmtDur(r.P99),
			r.Connect, r.Read, r.Write, r.Timeout, r.Non2xx, pcpu, p10k, r.TomcatCPU, fmtNum(r.perRequest(float64(r.TomcatSwitches)), 2), r.CPU, r.OtherCPU/r.Wall, procs, rss, pss)
	}
	return w.String()
}

func attrList(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// renderReport is BENCHMARKS.md.
func renderReport(b *bench, m machineInfo, stopped string) string {
	c := b.cfg
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	p("# Benchmarks: caddy-ajp against Apache httpd in front of Tomcat\n\n")
	p("Written by `make bench` (`tools/cmd/ajpbench`) on %s; the run took %s. ",
		m.Date.Format("2006-01-02 15:04 MST"), m.Elapsed.Round(time.Second))
	p("Each number is the **median of %d rounds** (errors: the sum; peak RSS: the maximum); ", c.rounds)
	p("each run is %s of load (`wrk`, `h2load` or the mix client; %s for %s) after a %s warm-up. All on one %d-core machine, on 127.0.0.1, ", c.duration, c.short, shortNames(c.scenarios), c.warmup, m.Cores)
	p("**shared with other engineers' builds and tests**: the load it added is in the *other load* column of the raw numbers (load average %s at the start, %s at the end). Treat differences under ~10%% as noise.\n\n", m.LoadStart, m.LoadEnd)
	p("Scenarios in this run: %s. ", strings.Join(func() []string {
		var n []string
		for _, sc := range c.scenarios {
			n = append(n, "`"+sc.Name+"`")
		}
		return n
	}(), ", "))
	p("**HTTP/3**: %s.\n\n", b.h3)
	p("## Results\n\n")
	p("%s\n", renderIssue16Targets(b))
	p("%s\n\n", renderTables(b))
	p("- **req/s**: completed requests per second (wrk's and h2load's own figure; the mix client's requests over its wall time). **vs Apache**: ratio of the medians to the better of the two Apache sizings (%s) in that scenario: the faster one without errors (either if both had errors). ", strings.Join(apacheSizings, ", "))
	p("**p50/p99**: latency percentiles of single requests (wrk's; from h2load's per-request log; the mix client's).\n")
	p("- **errors**: socket and stream errors (wrk: connect, read, write, timeout: no response within %s; h2load: failed streams and timeouts; mix client: transport errors) plus responses with an unexpected status (≥ 400; in the mix, anything but the expected 200 or 304), summed over the rounds.\n", c.timeout)
	p("- **proxy CPU s/10k req**: user+system CPU seconds of the proxy's processes during the measured run, per 10 000 completed requests (see Method). **proxy peak RSS**: the largest sum of VmRSS over the proxy's processes, sampled every 200 ms, over all rounds.\n")
	p("- **Tomcat CPU s/10k req**: the same for both Tomcat JVMs together: what each front end's protocol and connection use cost the backend. ")
	p("**Tomcat thread parks/req**: voluntary context switches of all threads of both JVMs (`/proc/<pid>/task/*/status`) per request: how often a Tomcat poller or worker thread ran out of work and went to sleep.\n\n")
	p("%s\n", renderTargets(b))
	p("%s", renderTomcatSettings())
	p("%s", renderAnalysis(b))

	p("## Machine\n\n")
	p("| | |\n|---|---|\n")
	p("| CPU | %s, %d cores |\n| RAM | %s |\n| OS, kernel | %s, Linux %s |\n", m.CPU, m.Cores, m.RAM, m.OS, m.Kernel)
	p("| Caddy | %s built with %s (`make build`: xcaddy with caddy-ajp at checkout %s) |\n", m.Caddy, m.CaddyGo, m.Checkout)
	p("| ajpbench | %s |\n", m.Go)
	p("| Apache httpd | %s, mod_jk %s (Debian) |\n", m.Apache, m.ModJK)
	p("| Tomcat | %s, %s |\n| wrk | %s |\n| h2load | %s |\n| OpenSSL | %s |\n\n", m.Tomcat, m.Java, m.Wrk, m.H2load, m.OpenSSL)

	p("## Method\n\n")
	p("**What runs.** Everything on this machine, listening on 127.0.0.1 only, started by ajpbench and stopped by PID at the end. ")
	p("All front ends run for the whole benchmark and sit idle while another is measured; nothing is pinned to a CPU, so wrk, the proxy and both Tomcats share the %d cores.\n\n", m.Cores)
	p("- **Tomcat**: two nodes, `tomcat1` and `tomcat2` (jvmRoute = name), in a session-replicating cluster (SimpleTcpCluster, DeltaManager, static membership), ")
	p("each with an AJP connector with a secret and an HTTP connector. JVM: `%s` (a fixed heap, the full tiered JIT instead of the test default `-XX:TieredStopAtLevel=1`, the throughput collector). ", strings.Join(tomcattest.BenchJVMArgs, " "))
	if len(c.tomcatJVMArgs) > 0 || c.tomcatMaxThreads != "" {
		p("**Changed for this run**: extra JVM options `%s`, maxThreads `%s`. ", strings.Join(c.tomcatJVMArgs, " "), c.tomcatMaxThreads)
	}
	p("AJP connector: `%s`. HTTP connector: `%s`. No access log. Only the page mix's session.jsp creates sessions (replicated to the other node). ", attrList(tomcattest.BenchAJPConnectorAttrs), attrList(tomcattest.BenchHTTPConnectorAttrs))
	p("A second webapp, `%s`, serves the mix's 20 static resources (generated by ajpbench, deterministic, fixed mtime, the same directory on both nodes) with Tomcat's DefaultServlet. ", staticPath)
	p("With NIO connectors an idle keep-alive connection holds no thread; 500 threads per node let all 1000 requests of c1000 be in flight at once.\n")
	for _, fe := range b.fronts {
		p("- **%s**: %s.\n", fe.Name, fe.Desc)
	}
	p("\n**TLS.** Every front end but tomcat-direct also listens for HTTPS on 127.0.0.1, with one ECDSA P-256 certificate and key generated by ajpbench for the run (Go's crypto/x509, SANs 127.0.0.1 and localhost), TLS 1.3 only, X25519 key exchange: ")
	p("Apache `SSLProtocol -all +TLSv1.3`, `SSLOpenSSLConfCmd Curves X25519`, `Protocols h2 http/1.1` (mod_ssl + mod_http2, loaded by LoadModule; session cache and no tickets, as Debian's ssl.conf); ")
	p("Caddy `tls cert key { protocols tls1.3; curves x25519 }` on an `https://` site (its defaults otherwise: h1, h2 and h3 offered). ")
	p("wrk and h2load negotiate with OpenSSL (TLS_AES_128_GCM_SHA256 in the checks), the mix client with Go's crypto/tls. Tomcat is reached as before: AJP, or plain HTTP for caddy-http.\n\n")
	p("**Apache, two sizings.** `%s` runs with the settings Debian ships: `%s` as installed (`StartServers 2`, `MinSpareThreads 25`, `MaxSpareThreads 75`, `ThreadLimit 64`, `ThreadsPerChild 25`, `MaxRequestWorkers 150`), ", apacheDebian, debianMPMFile)
	p("apache2.conf's `KeepAlive On`, `MaxKeepAliveRequests 100`, `KeepAliveTimeout 5`, `Timeout 300`, and httpd's own `ServerLimit 16`. The targets take whichever of the two proxy_ajp sizings served more in a scenario.\n\n")
	p("**Apache** (`%s`, `%s`) runs with the event MPM, sized for 1000 busy keep-alive connections on 2 cores: ", apacheProxyAJP, apacheJK)
	p("`StartServers 4`, `ServerLimit 4`, `ThreadsPerChild 512` (`ThreadLimit 512`), `MaxRequestWorkers 2048`, `MinSpareThreads 64`, `MaxSpareThreads 2048` (all four children start at once and none is reaped during a run), ")
	p("`MaxKeepAliveRequests 0` (unlimited, like Caddy and the Tomcat connectors here; Apache's default 100 would make wrk reconnect every 100 requests), `KeepAliveTimeout 5`, `ListenBacklog 1024`. ")
	p("A worker thread is held for the whole of a proxied request, and the kernel spreads the 1000 connections unevenly over the children. ")
	p("With 256 threads per child (1024 workers) wrk saw read errors at c1000: a child whose workers were all busy closes all its idle keep-alive connections (event.c, `process_keepalive_queue(0)` when `workers_were_busy`); with 512 per child every child can serve all the connections it accepted, and those errors are gone. ")
	p("The price is memory: every child starts all its 512 threads at once, so Apache's RSS is higher than with fewer threads (in trial runs of the tiny scenario, ~125 MiB against ~47 MiB with 256 threads per child). ")
	p("mod_proxy's and mod_jk's backend connection pools keep their defaults (up to ThreadsPerChild connections per child and member). ")
	p("These lines come after apachetest's small test settings in the generated httpd.conf (see Configurations) and override them. ")
	p("No CustomLog (no access log), `LogLevel warn`. **Caddy**: `admin off`, `auto_https off`, `log { level WARN }`, no access log (Caddy writes none unless asked); ")
	p("caddy-http uses Caddy's default HTTP transport (keep-alive, at most 32 idle connections per upstream), caddy-ajp the AJP transport's defaults (no connection limit).\n\n")
	p("**Checks before measuring.** Through each front end: `GET /share/tiny.jsp` answers 200 with `hello`, `GET /share/bytes.jsp?n=1048576` exactly 1 048 576 bytes of the expected pattern, ")
	p("a 64 KiB POST to `/share/echo.jsp` reaches the servlet intact (length and SHA-256), and 12 requests to echo.jsp reach both nodes (tomcat-direct: tomcat1 only). ")
	p("Over HTTPS: TLS 1.3 with the run's certificate, HTTP/1.1 when only that is offered and h2 otherwise, the tiny page and the POST; over h2 also a session counted across two requests, a static resource with an ETag answered 304 to If-None-Match, and the form POST. Any failure aborts the benchmark.\n\n")
	p("**Scenarios** (`wrk -t T -c C -d %s --timeout %s --latency URL`; `h2load -t T -c C -m M -D %d --log-file=… URL`, `-d` a 64 KiB file for the POST):\n\n", c.duration, c.timeout, int(c.duration.Seconds()))
	for _, sc := range c.scenarios {
		script := ""
		if sc.Script != "" {
			script = fmt.Sprintf(" (`-s scripts/bench/%s`)", sc.Script)
		}
		p("- `%s` (%s): %s; %s%s.\n", sc.Name, sc.Proto, sc.Desc, sc.load(), script)
	}
	p("\n**The page mix** (`h2-mix`) is run by ajpbench's own HTTP/2 client (Go's net/http, `ajpbench mixload` in a child process whose CPU is measured as wrk's is), because h2load sends the same method and headers to every URI and keeps no cookies. ")
	p("Each simulated user has its own connection (one TLS 1.3 + h2 connection, a cookie jar) and, before the clock starts, fetches the resources it will revalidate to learn their ETags. ")
	p("Then, until the duration is over, page view after page view: `GET /share/session.jsp` (creates the session on the first view, increments a counter in it on each; DeltaManager replicates it), ")
	p("the 20 resources under `%s` at once (5 CSS, 10 JS, 5 PNG, 1 KiB to 100 KiB, about 570 KiB in all), the 10 even-numbered with If-None-Match (304, no body) and the 10 others in full (200), ", staticPath)
	p("then a form POST (`application/x-www-form-urlencoded`, ~500 bytes) to `/share/echo.jsp`: 22 requests per view. The table counts requests; latency is per request.\n")
	p("\n**Selecting and timing.** `BENCH_SCENARIOS` (or `-scenarios`) takes names or the groups `plain`, `tls`, `h2`, `all` (the default); `BENCH_FRONTENDS` the front ends; `bin/ajpbench -plan` prints the runs and the estimated time without running anything. ")
	p("The default, every scenario against every front end in 3 rounds of 10 s (6 s for the plain-HTTP `1MiB`, `post64k` and `c1000`, to keep the whole run near 35 minutes; `BENCH_SHORT_DURATION`) after a 1 s warm-up, is %d measured runs: about %s on the 2-core machine.\n",
		runCount(allScenarios, allFrontends)*3, estimate(config{rounds: 3, duration: 10 * time.Second, short: 6 * time.Second, warmup: time.Second, prewarm: 2 * time.Second, scenarios: allScenarios, frontends: allFrontends}).Round(time.Minute))
	p("\n**Interleaving.** %d rounds; in each round every scenario runs against every front end once, the front ends in a rotating order (round r starts with the r-th), ", c.rounds)
	p("so slow drifts in the machine's load spread over all of them instead of favouring the one measured at a quiet moment. ")
	p("Before round 1, an unmeasured pass runs every scenario against every front end for %s (a fresh JVM compiles each page's AJP and HTTP paths in its first seconds under load). ", c.prewarm)
	p("Each measured run follows an unmeasured %s wrk run of the same scenario against the same front end (connection pools fill up again).\n\n", c.warmup)
	p("**CPU.** Before and after each measured run ajpbench reads `/proc/<pid>/stat` (utime+stime) of the proxy's process and of every process whose parent or process group it is (Apache's children), ")
	p("plus the parent's cutime+cstime (children reaped during the run); the difference, in CPU seconds, divided by the requests wrk completed, × 10 000. Tomcat CPU is the same for both JVMs. ")
	p("The **other load** column of the raw numbers is the machine's user+nice+system time from `/proc/stat` minus the proxy's, the Tomcats' and wrk's, divided by the run's wall time: other people's work on the machine, in cores.\n\n")
	p("**Memory.** Every 200 ms during a measured run, the sum of VmRSS (`/proc/<pid>/status`) over the proxy's processes; the table shows the largest sum over all rounds. ")
	p("RSS counts pages shared between processes (libraries, Apache's shared memory) once per process, so for Apache's 5 processes it overstates what they take together; ")
	p("the raw numbers also give the peak sum of PSS (`/proc/<pid>/smaps_rollup`), which divides shared pages between the processes sharing them.\n\n")
	if c.profile != "" {
		p("**CPU profile.** caddy-ajp ran with its admin endpoint on 127.0.0.1 and, during each measured run, Go's CPU profiler (`/debug/pprof/profile`, 100 samples a second) for the run's length less %s at each end; ", profileLead)
		p("the profiles were merged with `go tool pprof -proto` into `%s`, for `go build -pgo`. Profiling costs caddy-ajp a little CPU in this run's figures.\n\n", filepath.Base(c.profile))
	}
	p("**Stopping.** %s.\n\n", stopped)

	p("<details><summary>Per-round raw numbers</summary>\n\n%s\n</details>\n\n", renderRaw(b))
	p("<details><summary>Configurations (secret redacted)</summary>\n\n")
	for _, fe := range b.fronts {
		if fe.Config == "" {
			continue
		}
		p("**%s**\n\n```\n%s\n```\n\n", fe.Name, strings.TrimSpace(strings.ReplaceAll(fe.Config, b.cfg.dir, ".bench")))
	}
	p("</details>\n")
	return w.String()
}

// renderEqualLoad compares what one request costs Tomcat and the proxy when
// every front end carries the same load (the tiny-3k scenario): from this
// run when it has tiny-3k, else the record of the run that had.
func renderEqualLoad(b *bench, p func(string, ...any)) {
	a, ok1 := b.summary("tiny-3k", apacheProxyAJP)
	c, ok2 := b.summary("tiny-3k", caddyAJP)
	if !ok1 || !ok2 || a.Tomcat10k == 0 || a.CPU10k == 0 {
		p("**At equal load** (measured apart from this run, 2026-12-02, on a quiet machine: `BENCH_SCENARIOS=tiny,tiny-3k BENCH_ROUNDS=3 bin/ajpbench`; tiny-3k gives every front end the same 3000 req/s with `h2load --h1 --rps`, below what any of them can do): ")
		p("Tomcat spent 0.80 s/10k requests behind caddy-ajp and 0.71 behind apache-proxy_ajp (1.13×; per round 0.70–0.93 against 0.65–0.79, the ranges overlap), 0.63 behind mod_jk and 0.70 behind stock Caddy over HTTP; ")
		p("its threads parked 1.84 times per request behind caddy-ajp, 1.58 behind Apache (every round 1.83–1.91 against 1.57–1.59), 1.87 behind stock Caddy. ")
		p("In the same run at full speed (tiny): Tomcat 0.70 against 0.41 s/10k (1.71×), parks 2.13 against 0.85, at 10122 against 15299 req/s. ")
		p("So most of Tomcat's extra cost behind caddy-ajp follows the rate: at the same load it nearly closes, and what is left (~15%% more parks, also behind stock Caddy) comes with Caddy (stock Caddy over HTTP shows it too), not with the AJP traffic, which is the same. ")
		p("Tomcat alone, without a proxy, parks 1.40 times per request at 3000 req/s and costs 0.42 s/10k, against 0.29 and 0.19 at full speed: an idle Tomcat pays for every wake-up. ")
		p("The proxy's own CPU per request at equal load: caddy-ajp 1.11 s/10k, apache-proxy_ajp 0.92 (1.2×), mod_jk 0.87, stock Caddy 1.30. That, Caddy's own work per request, is what sets the rate.\n\n")
		return
	}
	sc, _ := selectScenarios("tiny-3k")
	p("**At equal load** (tiny-3k in this run: every front end is given the same %d req/s with `h2load --h1 --rps`): ", sc[0].offered())
	p("Tomcat spent %s s/10k requests behind caddy-ajp and %s behind %s (%.2f×), parking %.2f and %.2f times per request; ",
		fmtNum(c.Tomcat10k, 2), fmtNum(a.Tomcat10k, 2), apacheProxyAJP, c.Tomcat10k/a.Tomcat10k, c.TomcatSwitches, a.TomcatSwitches)
	if t, ok := b.summary("tiny", caddyAJP); ok {
		if ta, ok := b.summary("tiny", apacheProxyAJP); ok && ta.Tomcat10k > 0 {
			p("at full speed (tiny) the same ratio is %.2f×, parks %.2f and %.2f. ", t.Tomcat10k/ta.Tomcat10k, t.TomcatSwitches, ta.TomcatSwitches)
		}
	}
	p("The proxy's own CPU per request at equal load: caddy-ajp %s s/10k, %s %s (%.2f×).\n\n", fmtNum(c.CPU10k, 2), apacheProxyAJP, fmtNum(a.CPU10k, 2), c.CPU10k/a.CPU10k)
}

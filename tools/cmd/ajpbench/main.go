// Command ajpbench is what `make bench` runs. It starts a two-node Tomcat
// cluster (tomcat1, tomcat2: AJP connectors with a secret, HTTP connectors
// for the baselines) and, each on its own port on 127.0.0.1 and each
// balancing both nodes: Apache httpd with mod_proxy_ajp + mod_proxy_balancer
// as in the user's story, Apache with mod_jk, stock Caddy reverse_proxy over
// HTTP, and Caddy with caddy-ajp's ajp_balancer. It checks that every front
// end serves the benchmark pages correctly, runs wrk against each of them
// and against node 1's HTTP connector (the reference), interleaved over
// several rounds, measures each proxy's CPU time and memory, prints a table
// of medians and writes it with the machine and the method to BENCHMARKS.md.
//
// Every process it starts is stopped by PID at the end, also on Ctrl-C and
// on errors, and it checks that none is left.
//
// Run it from the repository's root (its defaults, .bench and scripts/bench,
// are relative to it), after `make build`:
//
//	go -C tools build -o ../bin/ajpbench ./cmd/ajpbench
//	bin/ajpbench -caddy bin/caddy -out BENCHMARKS.md
//	BENCH_ROUNDS=1 BENCH_DURATION=3s BENCH_WARMUP=1s bin/ajpbench   # quick check
//	bin/ajpbench -plan              # what a run would do, and how long it takes
//	BENCH_SCENARIOS=h2-tiny,h2-mix BENCH_FRONTENDS=apache-proxy_ajp,caddy-ajp bin/ajpbench -out ''
//
// Two builds of Caddy with caddy-ajp are compared with -caddy-b: the front
// end caddy-ajp-b runs caddy-ajp's configuration on that binary, interleaved
// with the others. -profile writes a CPU profile of caddy-ajp under the
// load, which `make pgo` does for the profile bin/caddy is built with:
//
//	BENCH_FRONTENDS=caddy-ajp bin/ajpbench -caddy bin/caddy -caddy-b bin/caddy-nopgo -out ''
//	BENCH_FRONTENDS=caddy-ajp BENCH_ROUNDS=1 bin/ajpbench -caddy bin/caddy-nopgo -profile pgo/caddy.pgo -out ''
//
// Besides plain HTTP/1.1 (wrk), every front end but tomcat-direct is
// measured over HTTPS: HTTP/1.1 with wrk and HTTP/2 with h2load, on one
// ECDSA P-256 certificate generated for the run, TLS 1.3 only. The h2-mix
// scenario is run by ajpbench's own HTTP/2 client in a child process
// (`ajpbench mixload`, see mix.go).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/caddy-ajp/caddy-ajp/tools/harness"
	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

// config is what the flags and BENCH_* variables set.
type config struct {
	caddy, out, dir, scripts string
	caddyB                   string // the binary of caddy-ajp-b, "" for no such front end
	profile                  string // where to write caddy-ajp's merged CPU profile, "" for none
	rounds                   int
	duration, warmup         time.Duration
	short                    time.Duration // the Short scenarios' duration
	prewarm                  time.Duration // the pass before round 1
	timeout                  time.Duration // wrk --timeout
	scenarios                []scenario
	frontends                []string
	plan                     bool     // print the runs and the estimated time, run nothing
	tomcatJVMArgs            []string // after tomcattest.BenchJVMArgs
	tomcatMaxThreads         string   // both connectors' maxThreads, "" for the bench's 500
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("ajpbench: ")
	if len(os.Args) > 1 && os.Args[1] == "mixload" {
		if err := mixMain(os.Args[2:]); err != nil {
			log.Fatal(err)
		}
		return
	}
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		log.Fatal(err)
	}
	if cfg.plan {
		fmt.Print(renderPlan(cfg))
		return
	}
	if err := run(cfg); err != nil {
		log.Fatal(err)
	}
}

func parseConfig(args []string) (config, error) {
	var cfg config
	var err error
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("ajpbench", flag.ContinueOnError)
	fs.StringVar(&cfg.caddy, "caddy", "bin/caddy", "the Caddy binary built with caddy-ajp (make build)")
	fs.StringVar(&cfg.caddyB, "caddy-b", env("BENCH_CADDY_B", ""), "a second Caddy binary with caddy-ajp: adds the front end "+caddyAJPB+", caddy-ajp's configuration on this binary, measured interleaved with the others (an A/B of two builds) (env BENCH_CADDY_B)")
	fs.StringVar(&cfg.profile, "profile", env("BENCH_PROFILE", ""), "write a CPU profile of caddy-ajp, taken through its admin endpoint during each measured run and merged, to this file (for go build -pgo) (env BENCH_PROFILE)")
	fs.StringVar(&cfg.out, "out", "BENCHMARKS.md", "the Markdown report to write (\"\" for none)")
	fs.StringVar(&cfg.dir, "dir", ".bench", "working directory: Tomcat bases, Caddy configs and logs")
	fs.StringVar(&cfg.scripts, "scripts", "scripts/bench", "directory of the wrk Lua scripts")
	rounds := fs.String("rounds", env("BENCH_ROUNDS", "3"), "rounds; each runs every scenario against every front end once (env BENCH_ROUNDS)")
	duration := fs.String("duration", env("BENCH_DURATION", "10s"), "length of each measured wrk run (env BENCH_DURATION)")
	short := fs.String("short-duration", env("BENCH_SHORT_DURATION", "6s"), "length of each measured run of the plain-HTTP 1MiB, post64k and c1000 scenarios, at most -duration (env BENCH_SHORT_DURATION)")
	warmup := fs.String("warmup", env("BENCH_WARMUP", "1s"), "length of the unmeasured run before each measured one, 0 for none (env BENCH_WARMUP)")
	prewarm := fs.String("prewarm", env("BENCH_PREWARM", "2s"), "length of the unmeasured pass over every scenario and front end before round 1 (JIT, pools), 0 for none (env BENCH_PREWARM)")
	timeout := fs.String("timeout", env("BENCH_TIMEOUT", "10s"), "wrk --timeout: slower responses count as timeouts (env BENCH_TIMEOUT)")
	scen := fs.String("scenarios", env("BENCH_SCENARIOS", "all"), "scenarios to run, comma-separated, or all, plain (HTTP/1.1), tls (HTTPS HTTP/1.1), h2 (env BENCH_SCENARIOS); have "+strings.Join(scenarioNames(), ", ")+" (tiny-3k, the fixed-rate comparison, only by name)")
	fronts := fs.String("frontends", env("BENCH_FRONTENDS", strings.Join(allFrontends, ",")), "front ends to run (env BENCH_FRONTENDS)")
	fs.BoolVar(&cfg.plan, "plan", false, "print the runs and their estimated time, and exit")
	jvm := fs.String("tomcat-jvm", env("BENCH_TOMCAT_JVM", ""), "extra JVM options for both Tomcats, space-separated, after the bench's (e.g. -XX:+UseG1GC) (env BENCH_TOMCAT_JVM)")
	fs.StringVar(&cfg.tomcatMaxThreads, "tomcat-max-threads", env("BENCH_TOMCAT_MAXTHREADS", ""), "maxThreads of both connectors of both Tomcats, instead of 500 (env BENCH_TOMCAT_MAXTHREADS)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.rounds, err = strconv.Atoi(*rounds); err != nil || cfg.rounds < 1 {
		return cfg, fmt.Errorf("rounds %q: want a positive integer", *rounds)
	}
	for _, d := range []struct {
		s   string
		p   *time.Duration
		min time.Duration
	}{{*duration, &cfg.duration, time.Second}, {*short, &cfg.short, time.Second}, {*warmup, &cfg.warmup, 0}, {*prewarm, &cfg.prewarm, 0}, {*timeout, &cfg.timeout, time.Second}} {
		if *d.p, err = time.ParseDuration(d.s); err != nil || *d.p < d.min {
			return cfg, fmt.Errorf("duration %q: want at least %s (wrk counts whole seconds)", d.s, d.min)
		}
	}
	cfg.short = min(cfg.short, cfg.duration)
	if cfg.scenarios, err = selectScenarios(*scen); err != nil {
		return cfg, err
	}
	cfg.tomcatJVMArgs = strings.Fields(*jvm)
	if t := cfg.tomcatMaxThreads; t != "" {
		if n, err := strconv.Atoi(t); err != nil || n < 1 {
			return cfg, fmt.Errorf("tomcat-max-threads %q: want a positive integer", t)
		}
	}
	names := strings.Split(*fronts, ",")
	if cfg.caddyB != "" {
		names = append(names, caddyAJPB)
	}
	for _, name := range names {
		name = strings.TrimSpace(name)
		if !slices.Contains(frontendOrder, name) {
			return cfg, fmt.Errorf("unknown front end %q (have %s)", name, strings.Join(frontendOrder, ", "))
		}
		if name == caddyAJPB && cfg.caddyB == "" {
			return cfg, fmt.Errorf("front end %s runs the binary given by -caddy-b (BENCH_CADDY_B), and there is none", caddyAJPB)
		}
		cfg.frontends = append(cfg.frontends, name)
	}
	// Report order, whatever order they were given in.
	slices.SortFunc(cfg.frontends, func(a, b string) int {
		return slices.Index(frontendOrder, a) - slices.Index(frontendOrder, b)
	})
	cfg.frontends = slices.Compact(cfg.frontends)
	if cfg.profile != "" && !slices.Contains(cfg.frontends, caddyAJP) {
		return cfg, fmt.Errorf("-profile profiles %s, which is not among the front ends", caddyAJP)
	}
	return cfg, nil
}

// selectScenarios reads -scenarios: names, or the groups all, plain, tls
// and h2, comma-separated, in the order of allScenarios.
func selectScenarios(list string) ([]scenario, error) {
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		n := 0
		for _, sc := range allScenarios {
			group := map[string]string{protoHTTP: "plain", protoHTTPS: "tls", protoH2: "h2"}[sc.Proto]
			if name == sc.Name || !sc.Extra && (name == "all" || name == group) {
				want[sc.Name] = true
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("unknown scenario %q (have all, plain, tls, h2, %s)", name, strings.Join(scenarioNames(), ", "))
		}
	}
	var out []scenario
	for _, sc := range allScenarios {
		if want[sc.Name] {
			out = append(out, sc)
		}
	}
	return out, nil
}

// serves is whether fe takes part in sc: tomcat-direct has no TLS listener.
// A fixed-rate scenario leaves out tomcat-direct and Debian's Apache sizing:
// h2load (nghttp2 1.52) counts every answer of Tomcat's HTTP connector as
// failed (its status line "HTTP/1.1 200 " has no reason phrase), and under
// --rps it does not reconnect when Debian's MaxKeepAliveRequests 100 closes
// a connection, so that Apache would get a sixth of the rate.
func (fe *frontend) serves(sc scenario) bool {
	if sc.Rate > 0 && (fe.Name == tomcatDirect || fe.Name == apacheDebian) {
		return false
	}
	return !sc.TLS() || fe.TLSURL != ""
}

// urlFor is the base URL sc loads.
func (fe *frontend) urlFor(sc scenario) string {
	if sc.TLS() {
		return fe.TLSURL
	}
	return fe.URL
}

// runCount is how many measured runs one round makes.
func runCount(scenarios []scenario, frontends []string) int {
	n := 0
	for _, sc := range scenarios {
		for _, fe := range frontends {
			if !sc.TLS() || fe != tomcatDirect {
				n++
			}
		}
	}
	return n
}

// Seconds a run costs beyond its duration (starting the generator, TLS
// handshakes, the /proc readings), and those of the start (two Tomcats,
// five proxies, the checks) and the stop, measured in smoke runs on the
// 2-core machine.
const (
	runOverhead   = 400 * time.Millisecond
	startOverhead = 75 * time.Second
)

// durationFor is how long sc's measured runs last.
func (c config) durationFor(sc scenario) time.Duration {
	if sc.Short {
		return c.short
	}
	return c.duration
}

// estimate is how long a run of cfg takes.
func estimate(cfg config) time.Duration {
	total := startOverhead
	for _, sc := range cfg.scenarios {
		n := time.Duration(runCount([]scenario{sc}, cfg.frontends))
		per := cfg.durationFor(sc).Round(time.Second) + runOverhead
		if cfg.warmup > 0 {
			per += cfg.warmup.Round(time.Second) + runOverhead
		}
		total += time.Duration(cfg.rounds) * n * per
		if cfg.prewarm > 0 {
			total += n * (cfg.prewarm.Round(time.Second) + runOverhead)
		}
	}
	return total
}

// shortNames lists the Short scenarios among scs.
func shortNames(scs []scenario) string {
	var n []string
	for _, sc := range scs {
		if sc.Short {
			n = append(n, sc.Name)
		}
	}
	if len(n) == 0 {
		return "none short"
	}
	return strings.Join(n, ", ")
}

// renderPlan is what -plan prints.
func renderPlan(cfg config) string {
	var w strings.Builder
	fmt.Fprintf(&w, "front ends: %s\n", strings.Join(cfg.frontends, ", "))
	if cfg.caddyB != "" {
		fmt.Fprintf(&w, "  %s runs %s, %s runs %s\n", caddyAJP, cfg.caddy, caddyAJPB, cfg.caddyB)
	}
	if cfg.profile != "" {
		fmt.Fprintf(&w, "  CPU profile of %s during each measured run (all but %s at each end), merged into %s\n", caddyAJP, profileLead, cfg.profile)
	}
	for _, sc := range cfg.scenarios {
		n := 0
		for _, fe := range cfg.frontends {
			if !sc.TLS() || fe != tomcatDirect {
				n++
			}
		}
		fmt.Fprintf(&w, "  %-12s %-18s %-55s %d front ends\n", sc.Name, sc.Proto, sc.load(), n)
	}
	n := runCount(cfg.scenarios, cfg.frontends)
	fmt.Fprintf(&w, "%d rounds × %d runs of %s (%s: %s) (+%s warm-up each), pre-warm pass %s each: about %s\n",
		cfg.rounds, n, cfg.duration, shortNames(cfg.scenarios), cfg.short, cfg.warmup, cfg.prewarm, estimate(cfg).Round(time.Minute))
	return w.String()
}

// bench holds everything one run of ajpbench started.
type bench struct {
	cfg     config
	wrk     wrkRun
	h2load  h2loadRun
	mix     mixRun
	cert    benchCert
	h3      string // why HTTP/3 is not measured
	secret  string
	nodes   []*tomcattest.Node
	fronts  []*frontend
	results []runResult

	pprofURL string   // caddy-ajp's admin endpoint when profiling, "" otherwise
	profiles []string // the profiles taken, one per measured caddy-ajp run

	mu   sync.Mutex
	pids map[int]procRecord // every process started, or seen in a proxy's tree

	stopOnce   sync.Once
	stopReport string
	leftOver   bool // stopAll found (and killed) processes still running
}

// procRecord identifies a process for the final check; comm guards against
// a pid reused by someone else's process.
type procRecord struct{ comm, owner string }

func run(cfg config) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = errors.New("interrupted: stopped everything, no report written")
		}
	}()

	nofile, err := raiseFileLimit()
	if err != nil {
		return err
	}
	wrkBin, err := exec.LookPath("wrk")
	if err != nil {
		return fmt.Errorf("wrk is not installed (./scripts/deps.sh bench): %w", err)
	}
	h2loadBin, err := exec.LookPath("h2load")
	if err != nil && slices.ContainsFunc(cfg.scenarios, func(sc scenario) bool { return sc.Tool == toolH2load }) {
		return fmt.Errorf("h2load is not installed (./scripts/deps.sh bench: nghttp2-client): %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if cfg.caddy, err = filepath.Abs(cfg.caddy); err != nil {
		return err
	}
	if st, err := os.Stat(cfg.caddy); err != nil || st.IsDir() {
		return fmt.Errorf("no Caddy binary at %s (make build)", cfg.caddy)
	}
	if cfg.caddyB != "" {
		if cfg.caddyB, err = filepath.Abs(cfg.caddyB); err != nil {
			return err
		}
		if st, err := os.Stat(cfg.caddyB); err != nil || st.IsDir() {
			return fmt.Errorf("no Caddy binary at %s (-caddy-b)", cfg.caddyB)
		}
	}
	var goBin string
	if cfg.profile != "" {
		if goBin, err = exec.LookPath("go"); err != nil {
			return fmt.Errorf("-profile merges the profiles with go tool pprof: %w", err)
		}
		if cfg.profile, err = filepath.Abs(cfg.profile); err != nil {
			return err
		}
	}
	if cfg.scripts, err = filepath.Abs(cfg.scripts); err != nil {
		return err
	}
	for _, sc := range cfg.scenarios {
		if sc.Script != "" {
			if _, err := os.Stat(filepath.Join(cfg.scripts, sc.Script)); err != nil {
				return fmt.Errorf("wrk script for %s: %w (run from the repository root or pass -scripts)", sc.Name, err)
			}
		}
	}
	if cfg.dir, err = filepath.Abs(cfg.dir); err != nil {
		return err
	}
	for _, sub := range []string{"tomcat1", "tomcat2", caddyHTTP, caddyAJP, caddyAJPB, "tls", "static", "profiles"} {
		if err := os.RemoveAll(filepath.Join(cfg.dir, sub)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)

	cert, err := newBenchCert(filepath.Join(cfg.dir, "tls"))
	if err != nil {
		return err
	}
	postFile := filepath.Join(cfg.dir, "post64k.bin")
	if err := os.WriteFile(postFile, []byte(postBody), 0o644); err != nil {
		return err
	}
	if err := writeStaticWebapp(filepath.Join(cfg.dir, "static")); err != nil {
		return fmt.Errorf("writing the page mix's static resources: %w", err)
	}
	b := &bench{
		cfg:    cfg,
		wrk:    wrkRun{bin: wrkBin, scriptsDir: cfg.scripts, timeout: cfg.timeout},
		h2load: h2loadRun{bin: h2loadBin, dir: cfg.dir, postFile: postFile},
		mix:    mixRun{self: self, certFile: cert.CertFile},
		cert:   cert,
		h3:     http3Support(ctx, h2loadBin),
		secret: hex.EncodeToString(secret),
		pids:   map[int]procRecord{},
	}
	defer func() { log.Print(b.stopAll()) }()

	log.Printf("open-file limit %d; %d rounds × %d runs of %s (%s: %s; +%s warm-up each, %s pre-warm pass): about %s",
		nofile, cfg.rounds, runCount(cfg.scenarios, cfg.frontends), cfg.duration, shortNames(cfg.scenarios), cfg.short, cfg.warmup, cfg.prewarm, estimate(cfg).Round(time.Minute))
	log.Printf("HTTP/3: %s", b.h3)

	if err := b.startTomcat(ctx); err != nil {
		return err
	}
	if err := b.startFrontends(ctx); err != nil {
		return err
	}
	for _, fe := range b.fronts {
		want := []string{"tomcat1", "tomcat2"}
		if fe.Name == tomcatDirect {
			want = want[:1]
		}
		if err := verifyFrontend(ctx, fe, want, b.cert); err != nil {
			return fmt.Errorf("%s (%s) does not serve the benchmark pages correctly: %w", fe.Name, fe.URL, err)
		}
		if fe.TLSURL != "" {
			log.Printf("%-23s %s, %s: tiny.jsp, 1 MiB, 64 KiB POST, balancing, TLS 1.3 with HTTP/1.1 and h2, session, ETag/304 and form POST checked", fe.Name, fe.URL, fe.TLSURL)
		} else {
			log.Printf("%-23s %s: tiny.jsp, 1 MiB, 64 KiB POST and balancing checked", fe.Name, fe.URL)
		}
	}
	m := collectMachine(ctx, cfg)
	started := time.Now()
	if err := b.runRounds(ctx); err != nil {
		return err
	}
	m.Elapsed = time.Since(started)
	m.LoadEnd = loadAvg()
	if cfg.profile != "" {
		if err := mergeProfiles(ctx, goBin, b.profiles, cfg.profile); err != nil {
			return err
		}
		st, _ := os.Stat(cfg.profile)
		log.Printf("wrote %s: CPU profile of %s, %d runs merged, %d KiB", cfg.profile, caddyAJP, len(b.profiles), st.Size()>>10)
	}

	stopped := b.stopAll() // the deferred call logs it
	report := renderReport(b, m, stopped)
	fmt.Println()
	fmt.Println(renderTables(b))
	fmt.Println()
	fmt.Println(renderTargets(b))
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", cfg.out, err)
		}
		log.Printf("wrote %s", cfg.out)
	}
	if b.leftOver {
		return errors.New(stopped)
	}
	return nil
}

// raiseFileLimit sets the soft open-file limit to the hard one, for
// ajpbench and, inherited, for wrk, Caddy, Apache and Tomcat (Go restores
// the original soft limit in children unless the program set it itself).
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("reading the open-file limit: %w", err)
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("raising the open-file limit to %d: %w", l.Max, err)
	}
	if l.Cur < 4096 {
		return l.Cur, fmt.Errorf("the open-file limit is %d; 1000 connections through a proxy need at least 4096 (raise the hard limit: ulimit -Hn)", l.Cur)
	}
	return l.Cur, nil
}

func (b *bench) startTomcat(ctx context.Context) error {
	var opts []tomcattest.Options
	ajpAttrs, httpAttrs := maps.Clone(tomcattest.BenchAJPConnectorAttrs), maps.Clone(tomcattest.BenchHTTPConnectorAttrs)
	if t := b.cfg.tomcatMaxThreads; t != "" {
		ajpAttrs["maxThreads"], httpAttrs["maxThreads"] = t, t
	}
	for _, name := range []string{"tomcat1", "tomcat2"} {
		ajp, err := harness.FreePort()
		if err != nil {
			return err
		}
		http, err := harness.FreePort()
		if err != nil {
			return err
		}
		opts = append(opts, tomcattest.Options{
			Name:               name,
			BaseDir:            filepath.Join(b.cfg.dir, name),
			Keep:               true, // logs stay in .bench for a post-mortem
			AJPPort:            ajp,
			HTTPPort:           http,
			Secret:             b.secret,
			JvmRoute:           name,
			ExtraJVMArgs:       append(slices.Clone(tomcattest.BenchJVMArgs), b.cfg.tomcatJVMArgs...),
			AJPConnectorAttrs:  ajpAttrs,
			HTTPConnectorAttrs: httpAttrs,
			Webapps: []tomcattest.Webapp{
				tomcattest.ShareWebapp(),
				{Path: staticPath, Dir: filepath.Join(b.cfg.dir, "static")},
			},
		})
	}
	log.Printf("starting Tomcat tomcat1 and tomcat2 (cluster, AJP with a secret + HTTP) ...")
	nodes, err := tomcattest.StartCluster(ctx, opts)
	if err != nil {
		return fmt.Errorf("starting the Tomcat cluster: %w", err)
	}
	b.nodes = nodes
	for _, n := range nodes {
		b.remember(n.Name(), []int{n.PID()})
		log.Printf("%s: pid %d, AJP %s, HTTP %s", n.Name(), n.PID(), n.AJPAddr(), n.HTTPURL())
	}
	return nil
}

func (b *bench) startFrontends(ctx context.Context) error {
	for _, name := range b.cfg.frontends {
		var fe *frontend
		switch name {
		case apacheProxyAJP, apacheDebian, apacheJK:
			f, err := startApache(ctx, name, b.secret, b.cert, b.nodes)
			if err != nil {
				return err
			}
			fe = f
		case caddyHTTP, caddyAJP, caddyAJPB:
			ports, err := freePorts(3)
			if err != nil {
				return err
			}
			port, tlsPort, admin := ports[0], ports[1], ""
			bin := b.cfg.caddy
			conf, desc := caddyHTTPConfig(port, tlsPort, b.cert, b.nodes), "Caddy reverse_proxy over HTTP to the nodes' HTTP connectors, lb_policy round_robin"
			switch name {
			case caddyAJP:
				if b.cfg.profile != "" {
					admin = "127.0.0.1:" + strconv.Itoa(ports[2])
				}
				conf, desc = caddyAJPConfig(port, tlsPort, admin, b.cert, b.nodes), "Caddy with caddy-ajp: ajp_balancer (AJP transport + sticky_route), secret"
				if b.cfg.caddyB != "" {
					desc += "; " + binaryDesc(bin)
				}
				if admin != "" {
					desc += fmt.Sprintf("; admin endpoint on %s, CPU-profiled (pprof, 100 Hz) during each measured run", admin)
				}
			case caddyAJPB:
				bin = b.cfg.caddyB
				conf, desc = caddyAJPConfig(port, tlsPort, "", b.cert, b.nodes), "caddy-ajp's configuration on another binary, for an A/B; "+binaryDesc(bin)
			}
			url := "http://127.0.0.1:" + strconv.Itoa(port)
			p, err := startCaddy(ctx, bin, filepath.Join(b.cfg.dir, name), conf, []string{"AJP_SECRET=" + b.secret}, url+"/share/tiny.jsp")
			if err != nil {
				return fmt.Errorf("starting %s: %w", name, err)
			}
			if admin != "" {
				b.pprofURL = "http://" + admin
			}
			fe = &frontend{Name: name, URL: url, TLSURL: "https://127.0.0.1:" + strconv.Itoa(tlsPort), Desc: desc, Config: conf, pid: p.PID, stop: p.Stop}
		case tomcatDirect:
			n := b.nodes[0]
			fe = &frontend{
				Name: name, URL: n.HTTPURL(),
				Desc: "no proxy: wrk straight at tomcat1's HTTP connector (the reference)",
				pid:  func() int { return 0 }, stop: func() error { return nil },
			}
		}
		b.fronts = append(b.fronts, fe)
		if pid := fe.pid(); pid != 0 {
			var pids []int
			for _, p := range processTree(allProcs(), pid) {
				pids = append(pids, p.pid)
			}
			b.remember(name, pids)
			log.Printf("%-23s %s %s, pid %d (%d processes)", name, fe.URL, fe.TLSURL, pid, len(pids))
		}
	}
	return nil
}

// remember records processes for the final check that none is left.
func (b *bench) remember(owner string, pids []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, pid := range pids {
		if _, ok := b.pids[pid]; ok {
			continue
		}
		if st, err := readProcStat(pid); err == nil {
			b.pids[pid] = procRecord{comm: st.comm, owner: owner}
		}
	}
}

func (b *bench) runRounds(ctx context.Context) error {
	fronts := b.fronts
	if b.cfg.prewarm > 0 {
		// A fresh JVM compiles each page's path (AJP and HTTP separately)
		// during its first seconds of load: whoever ran first in round 1
		// would pay for it.
		log.Printf("pre-warm pass: every scenario against every front end for %s, unmeasured", b.cfg.prewarm)
		for _, sc := range b.cfg.scenarios {
			for _, fe := range fronts {
				if !fe.serves(sc) {
					continue
				}
				if _, err := b.loader(sc).run(ctx, sc, fe.urlFor(sc), b.cfg.prewarm); err != nil {
					return fmt.Errorf("pre-warm of %s for %s: %w", fe.Name, sc.Name, err)
				}
			}
		}
	}
	total := b.cfg.rounds * runCount(b.cfg.scenarios, b.cfg.frontends)
	k := 0
	for round := 1; round <= b.cfg.rounds; round++ {
		for _, sc := range b.cfg.scenarios {
			// Each round starts the rotation one front end later, so no
			// front end always runs first (or right after the same one).
			for i := range fronts {
				fe := fronts[(i+round-1)%len(fronts)]
				if !fe.serves(sc) {
					continue
				}
				k++
				if b.cfg.warmup > 0 {
					if _, err := b.loader(sc).run(ctx, sc, fe.urlFor(sc), b.cfg.warmup); err != nil {
						return fmt.Errorf("warm-up of %s for %s: %w", fe.Name, sc.Name, err)
					}
				}
				r, err := b.measure(ctx, sc, fe, round)
				if err != nil {
					return fmt.Errorf("round %d, %s, %s: %w", round, sc.Name, fe.Name, err)
				}
				b.results = append(b.results, r)
				line := fmt.Sprintf("[%d/%d] round %d %-11s %-23s %9.0f req/s  p50 %-9s p99 %-9s errors %d",
					k, total, round, sc.Name, fe.Name, r.RPS, fmtDur(r.P50), fmtDur(r.P99), r.Errors())
				if r.HasProxy {
					line += fmt.Sprintf("  CPU %.2f s/10k  RSS %.1f MiB", r.per10k(r.ProxyCPU), mib(r.Mem.rss))
				}
				line += fmt.Sprintf("  other load %.2f cores", r.OtherCPU/r.Wall)
				log.Print(line)
				if r.Requests == 0 || r.Errors() > 0 {
					log.Printf("  note: %s in round %d of %s: %d requests, %d errors (connect %d, read %d, write %d, timeout %d, non-2xx %d)",
						fe.Name, round, sc.Name, r.Requests, r.Errors(), r.Connect, r.Read, r.Write, r.Timeout, r.Non2xx)
				}
			}
		}
	}
	return nil
}

// measure runs wrk once and the CPU and memory measurements around it.
func (b *bench) measure(ctx context.Context, sc scenario, fe *frontend, round int) (runResult, error) {
	r := runResult{Round: round, Scenario: sc.Name, Frontend: fe.Name}
	pid := fe.pid()
	r.HasProxy = pid != 0
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var peak func() memSample
	if r.HasProxy {
		peak = memPeak(sctx, pid, 200*time.Millisecond, func(pids []int) { b.remember(fe.Name, pids) })
	}
	var profiled <-chan error
	if fe.Name == caddyAJP && b.pprofURL != "" {
		profiled = b.startProfile(sctx, sc, round)
	}
	before := b.readCounters(pid)
	start := time.Now()
	res, err := b.loader(sc).run(ctx, sc, fe.urlFor(sc), b.cfg.durationFor(sc))
	r.Wall = time.Since(start).Seconds()
	after := b.readCounters(pid)
	if err != nil {
		cancel() // no profile of a failed run
	}
	if profiled != nil {
		if perr := <-profiled; err == nil && perr != nil {
			err = perr
		}
	}
	cancel()
	if peak != nil {
		r.Mem = peak()
	}
	if err != nil {
		return r, err
	}
	r.wrkResult = res
	r.ProxyCPU = ticksToSeconds(before.proxy, after.proxy)
	r.TomcatCPU = ticksToSeconds(before.tomcat, after.tomcat)
	if after.switches > before.switches {
		r.TomcatSwitches = after.switches - before.switches
	}
	r.OtherCPU = max(0, ticksToSeconds(before.sys, after.sys)-r.ProxyCPU-r.TomcatCPU-res.CPU)
	return r, nil
}

// loadGenerator runs one load for a duration against a base URL.
type loadGenerator interface {
	run(ctx context.Context, sc scenario, baseURL string, d time.Duration) (wrkResult, error)
}

func (b *bench) loader(sc scenario) loadGenerator {
	switch sc.Tool {
	case toolH2load:
		return b.h2load
	case toolMix:
		return b.mix
	}
	return b.wrk
}

// http3Support says whether h2load can speak HTTP/3 and, if not, why not:
// Debian's is built without QUIC (not linked with ngtcp2/nghttp3), and
// Debian ships no other HTTP/3 load generator.
func http3Support(ctx context.Context, h2loadBin string) string {
	if h2loadBin == "" {
		return "not measured: h2load is not installed"
	}
	version := firstLine(command(ctx, h2loadBin, "--version"))
	if out := command(ctx, "ldd", h2loadBin); !strings.Contains(out, "libngtcp2") {
		return "not measured: " + version + " (Debian's nghttp2-client) is built without QUIC (not linked with libngtcp2/libnghttp3; `--npn-list=h3` only fails), and Debian 12 packages no other HTTP/3 load generator"
	}
	return "h2load " + version + " is built with QUIC, but ajpbench has no HTTP/3 scenario yet"
}

// counters is one reading of what measure compares before and after a run,
// from one pass over /proc.
type counters struct {
	proxy, tomcat uint64 // CPU clock ticks of the proxy's and the JVMs' process trees
	sys           uint64 // the machine's busy ticks
	switches      uint64 // voluntary context switches of the JVMs' threads
}

// readCounters reads the counters; proxy 0 is no proxy (tomcat-direct).
func (b *bench) readCounters(proxy int) counters {
	procs := allProcs()
	c := counters{sys: systemBusyTicks()}
	if proxy != 0 {
		c.proxy = treeTicks(procs, proxy)
	}
	for _, n := range b.nodes {
		c.tomcat += treeTicks(procs, n.PID())
		c.switches += voluntarySwitches(n.PID())
	}
	return c
}

func ticksToSeconds(before, after uint64) float64 {
	if after < before {
		return 0
	}
	return float64(after-before) / clkTck
}

// stopAll stops the front ends, then the Tomcat nodes, each by its PID, and
// checks that none of the processes ajpbench started or saw in a proxy's
// process tree is left (killing any that is, by PID). It returns what it
// found; later calls return the same.
func (b *bench) stopAll() string {
	b.stopOnce.Do(func() {
		var errs []string
		for i := len(b.fronts) - 1; i >= 0; i-- {
			if err := b.fronts[i].stop(); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", b.fronts[i].Name, err))
			}
		}
		for _, n := range b.nodes {
			if err := n.Stop(); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", n.Name(), err))
			}
		}
		left := b.leftovers()
		b.leftOver = len(left) > 0
		for _, p := range left {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
		b.mu.Lock()
		n := len(b.pids)
		b.mu.Unlock()
		var s strings.Builder
		if len(left) == 0 {
			fmt.Fprintf(&s, "stopped everything: none of the %d processes started (Tomcat, Apache and its children, Caddy, wrk) is left", n)
		} else {
			fmt.Fprintf(&s, "processes left after stopping, killed now:")
			for _, p := range left {
				fmt.Fprintf(&s, " %d (%s)", p.pid, p.comm)
			}
		}
		if len(errs) > 0 {
			fmt.Fprintf(&s, "; stop errors: %s", strings.Join(errs, "; "))
		}
		b.stopReport = s.String()
	})
	return b.stopReport
}

// leftovers are the live processes that are ours: recorded (same comm), in
// the process group of a recorded process, or children of ajpbench.
func (b *bench) leftovers() []procStat {
	b.mu.Lock()
	defer b.mu.Unlock()
	self := os.Getpid()
	var left []procStat
	for _, p := range allProcs() {
		rec, known := b.pids[p.pid]
		group, groupKnown := b.pids[p.pgrp]
		if known && rec.comm == p.comm || groupKnown && p.pgrp != self && group.comm != "" || p.ppid == self {
			left = append(left, p)
		}
	}
	return left
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The protocols a scenario speaks to a front end.
const (
	protoHTTP  = "HTTP/1.1"          // plain, to the front end's URL
	protoHTTPS = "HTTP/1.1 over TLS" // to its TLSURL, ALPN http/1.1 (wrk)
	protoH2    = "HTTP/2 over TLS"   // to its TLSURL, ALPN h2
)

// The load generators.
const (
	toolWrk    = "wrk"
	toolH2load = "h2load"
	toolMix    = "mix" // ajpbench's own HTTP/2 client: `ajpbench mixload`
)

// scenario is one workload.
type scenario struct {
	Name    string
	Proto   string
	Tool    string
	Path    string // request target, from the front end's root
	Threads int
	Conns   int    // connections; for the mix, simulated users (one connection each)
	Streams int    // h2load -m: requests in flight per connection
	Script  string // wrk Lua script in the scripts directory, "" for GET
	Post    bool   // h2load: POST the 64 KiB postBody
	Short   bool   // measured for the short duration (config.short)
	Rate    int    // h2load --rps per connection: a fixed offered rate, not the most a front end can do
	Extra   bool   // run only when named: not in all or its group
	Desc    string
}

// load describes the generator's settings for the tables.
func (sc scenario) load() string {
	switch sc.Tool {
	case toolH2load:
		if sc.Rate > 0 {
			return fmt.Sprintf("h2load %d threads, %d connections, %d req/s each (%d req/s offered)", sc.Threads, sc.Conns, sc.Rate, sc.offered())
		}
		return fmt.Sprintf("h2load %d threads, %d connections × %d streams", sc.Threads, sc.Conns, sc.Streams)
	case toolMix:
		return fmt.Sprintf("mix client, %d users (one HTTP/2 connection each)", sc.Conns)
	}
	return fmt.Sprintf("wrk %d threads, %d connections", sc.Threads, sc.Conns)
}

// offered is the rate a fixed-rate scenario gives every front end, in
// req/s; 0 for the others.
func (sc scenario) offered() int { return sc.Rate * sc.Conns }

// TLS is whether sc goes to the front end's HTTPS listener.
func (sc scenario) TLS() bool { return sc.Proto != protoHTTP }

const (
	tinyDesc = "GET /share/tiny.jsp (a 5-byte body)"
	mibDesc  = "GET /share/bytes.jsp?n=1048576 (1 MiB, Tomcat sends Content-Length)"
	postDesc = "POST of 64 KiB to /share/echo.jsp (reads and hashes the body, answers ~1 KiB of JSON)"
)

var allScenarios = []scenario{
	{Name: "tiny", Proto: protoHTTP, Tool: toolWrk, Path: "/share/tiny.jsp", Threads: 2, Conns: 50, Desc: tinyDesc},
	{Name: "1MiB", Proto: protoHTTP, Tool: toolWrk, Path: "/share/bytes.jsp?n=1048576", Threads: 2, Conns: 16, Short: true, Desc: mibDesc},
	{Name: "post64k", Proto: protoHTTP, Tool: toolWrk, Path: "/share/echo.jsp", Threads: 2, Conns: 16, Script: "post64k.lua", Short: true, Desc: postDesc},
	{Name: "c1000", Proto: protoHTTP, Tool: toolWrk, Path: "/share/tiny.jsp", Threads: 2, Conns: 1000, Short: true,
		Desc: "GET /share/tiny.jsp, 1000 concurrent keep-alive connections"},
	// the investigation of Tomcat's CPU per request behind each proxy, run by name
	{Name: "tiny-3k", Proto: protoHTTP, Tool: toolH2load, Path: "/share/tiny.jsp", Threads: 2, Conns: 50, Streams: 1, Rate: 60, Extra: true,
		Desc: tinyDesc + ", at a fixed rate: every front end is given the same 3000 req/s, below what any of them can do, so the CPU and park columns compare what one request costs each side at equal load (req/s says only whether the rate was held)"},
	{Name: "tls-tiny", Proto: protoHTTPS, Tool: toolWrk, Path: "/share/tiny.jsp", Threads: 2, Conns: 50, Desc: tinyDesc + ", HTTPS"},
	{Name: "tls-1MiB", Proto: protoHTTPS, Tool: toolWrk, Path: "/share/bytes.jsp?n=1048576", Threads: 2, Conns: 16, Desc: mibDesc + ", HTTPS"},
	{Name: "tls-post64k", Proto: protoHTTPS, Tool: toolWrk, Path: "/share/echo.jsp", Threads: 2, Conns: 16, Script: "post64k.lua", Desc: postDesc + ", HTTPS"},
	{Name: "h2-tiny", Proto: protoH2, Tool: toolH2load, Path: "/share/tiny.jsp", Threads: 2, Conns: 50, Streams: 4, Desc: tinyDesc + ", HTTP/2"},
	{Name: "h2-1MiB", Proto: protoH2, Tool: toolH2load, Path: "/share/bytes.jsp?n=1048576", Threads: 2, Conns: 16, Streams: 4, Desc: mibDesc + ", HTTP/2"},
	{Name: "h2-post64k", Proto: protoH2, Tool: toolH2load, Path: "/share/echo.jsp", Threads: 2, Conns: 16, Streams: 4, Post: true, Desc: postDesc + ", HTTP/2"},
	{Name: "h2-mix", Proto: protoH2, Tool: toolMix, Path: "/share/session.jsp", Conns: 50,
		Desc: "a page view per simulated user, over HTTP/2: the session page (sets and reads a session), its 20 static resources (CSS/JS/PNG, 1–100 KiB) at once, half revalidated with If-None-Match (304), then a form POST; req/s counts every request"},
}

func scenarioNames() []string {
	var names []string
	for _, sc := range allScenarios {
		names = append(names, sc.Name)
	}
	return names
}

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests int64
	Seconds  float64 // wrk's measured duration
	RPS      float64
	P50, P99 time.Duration
	Connect  int64 // socket errors
	Read     int64
	Write    int64
	Timeout  int64
	Non2xx   int64   // "Non-2xx or 3xx responses" (status ≥ 400)
	CPU      float64 // wrk's own user+system seconds
}

// Errors is every failed request or connection wrk counted.
func (r wrkResult) Errors() int64 { return r.Connect + r.Read + r.Write + r.Timeout + r.Non2xx }

// wrkRun runs wrk once for sc against baseURL.
type wrkRun struct {
	bin        string
	scriptsDir string
	timeout    time.Duration // wrk --timeout
}

func (w wrkRun) run(ctx context.Context, sc scenario, baseURL string, d time.Duration) (wrkResult, error) {
	args := []string{
		"-t", strconv.Itoa(sc.Threads), "-c", strconv.Itoa(sc.Conns),
		"-d", strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))) + "s",
		"--timeout", strconv.Itoa(max(1, int(w.timeout.Round(time.Second)/time.Second))) + "s",
		"--latency",
	}
	if sc.Script != "" {
		args = append(args, "-s", filepath.Join(w.scriptsDir, sc.Script))
	}
	args = append(args, baseURL+sc.Path)
	ctx, cancel := context.WithTimeout(ctx, d+w.timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, text)
	}
	res, err := parseWrk(text)
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, text)
	}
	if ps := cmd.ProcessState; ps != nil {
		res.CPU = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	return res, nil
}

var (
	wrkRequestsRE = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([\d.]+[a-z]+),`)
	wrkRPSRE      = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)`)
	wrkSocketRE   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xxRE   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkPctRE      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+[a-z]+)\s*$`)
)

// parseWrk reads the summary `wrk --latency` prints.
func parseWrk(s string) (wrkResult, error) {
	var r wrkResult
	m := wrkRequestsRE.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("no \"N requests in\" line in wrk's output")
	}
	r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	d, err := parseWrkDuration(m[2])
	if err != nil {
		return r, err
	}
	r.Seconds = d.Seconds()
	m = wrkRPSRE.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's output")
	}
	r.RPS, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkSocketRE.FindStringSubmatch(s); m != nil {
		for i, p := range []*int64{&r.Connect, &r.Read, &r.Write, &r.Timeout} {
			*p, _ = strconv.ParseInt(m[i+1], 10, 64)
		}
	}
	if m := wrkNon2xxRE.FindStringSubmatch(s); m != nil {
		r.Non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	found := 0
	for _, m := range wrkPctRE.FindAllStringSubmatch(s, -1) {
		d, err := parseWrkDuration(m[2])
		if err != nil {
			return r, err
		}
		if m[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
		found++
	}
	if found != 2 && r.Requests > 0 {
		return r, fmt.Errorf("no 50%%/99%% latency lines in wrk's output (run with --latency)")
	}
	return r, nil
}

var wrkDurationRE = regexp.MustCompile(`^([\d.]+)(us|ms|s|m|h)$`)

// parseWrkDuration reads wrk's time format: "635.00us", "1.23ms", "2.00s",
// "1.50m".
func parseWrkDuration(s string) (time.Duration, error) {
	m := wrkDurationRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("wrk duration %q: unknown format", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("wrk duration %q: %w", s, err)
	}
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}[m[2]]
	return time.Duration(v * float64(unit)), nil
}

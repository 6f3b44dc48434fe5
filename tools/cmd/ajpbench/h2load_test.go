package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// h2loadOutput is what h2load 1.52 prints after `-D 10` (abridged).
const h2loadOutput = `starting benchmark...
spawning thread #0: 25 total client(s). Timing-based test with 0s of warm-up time and 10s of main duration for measurements.
Main benchmark duration is over for thread #0. Stopping all clients.

finished in 10.00s, 21234.50 req/s, 2.31MB/s
requests: 212345 total, 212545 started, 212345 done, 212300 succeeded, 45 failed, 5 errored, 3 timeout
status codes: 212300 2xx, 0 3xx, 30 4xx, 7 5xx
traffic: 23.10MB (24222120) total, 1.20MB (1258000) headers (space savings 93.12%), 1.01MB (1061725) data
                     min         max         mean         sd        +/- sd
time for request:      231us     81.23ms      9.40ms      5.02ms    70.12%
`

func TestParseH2loadCountsDoneRequestsAndSplitsFailures(t *testing.T) {
	r, err := parseH2load(h2loadOutput)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 212345 || r.RPS != 21234.5 || r.Seconds != 10 {
		t.Errorf("requests %d, rps %v, seconds %v", r.Requests, r.RPS, r.Seconds)
	}
	// 45 failed: 37 with a 4xx/5xx status, 3 timed out, 5 stream errors.
	if r.Non2xx != 37 || r.Timeout != 3 || r.Read != 5 || r.Errors() != 45 {
		t.Errorf("non2xx %d, timeout %d, read %d, errors %d; want 37, 3, 5, 45", r.Non2xx, r.Timeout, r.Read, r.Errors())
	}
}

func TestParseH2loadRefusesARunWithoutRequests(t *testing.T) {
	// What h2load's timing mode prints when it cannot connect at all.
	out := "finished in 1.00s, 0.00 req/s, 0B/s\nrequests: 0 total, 0 started, 0 done, 0 succeeded, 0 failed, 0 errored, 0 timeout\nstatus codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx\n"
	if _, err := parseH2load(out); err == nil || !strings.Contains(err.Error(), "no request") {
		t.Errorf("err = %v, want one about no request", err)
	}
	if _, err := parseH2load("h2load: unknown option\n"); err == nil {
		t.Error("no error for output without a summary")
	}
	out = "finished in 812.40ms, 24.62 req/s, 0B/s\nrequests: 20 total, 10 started, 10 done, 0 succeeded, 20 failed, 10 errored, 0 timeout\nstatus codes: 0 2xx, 0 3xx, 10 4xx, 0 5xx\n"
	r, err := parseH2load(out)
	if err != nil || r.Seconds != 0.8124 || r.Non2xx != 10 || r.Read != 10 {
		t.Errorf("all failed: %+v, %v", r, err)
	}
}

func TestH2loadPercentilesFromTheRequestLog(t *testing.T) {
	var log strings.Builder
	// 100 requests taking 1..100 ms, in a shuffled order.
	for i := range 100 {
		ms := (i*37)%100 + 1
		log.WriteString("1796154186000000\t200\t" + itoa(ms*1000) + "\n")
	}
	log.WriteString("garbage line\n")
	p50, p99, err := h2loadPercentiles(strings.NewReader(log.String()))
	if err != nil {
		t.Fatal(err)
	}
	if p50 != 50*time.Millisecond || p99 != 99*time.Millisecond {
		t.Errorf("p50 %v, p99 %v; want 50ms, 99ms", p50, p99)
	}
	if _, _, err := h2loadPercentiles(strings.NewReader("1\t200\tx\n")); err == nil {
		t.Error("no error for a non-numeric response time")
	}
	if got := percentiles(nil, 0.5); got[0] != 0 {
		t.Errorf("percentile of nothing: %d", got[0])
	}
	if got := percentiles([]int64{7}, 0.5, 0.99); got[0] != 7 || got[1] != 7 {
		t.Errorf("percentiles of one: %v", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

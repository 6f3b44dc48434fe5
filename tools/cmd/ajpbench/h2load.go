package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// h2loadRun runs h2load (nghttp2-client) once for an HTTP/2 scenario.
type h2loadRun struct {
	bin      string
	dir      string // for the per-request log and the POST body
	postFile string // postBody, for -d
}

func (h h2loadRun) run(ctx context.Context, sc scenario, baseURL string, d time.Duration) (wrkResult, error) {
	logFile := filepath.Join(h.dir, "h2load-requests.log")
	_ = os.Remove(logFile)
	args := []string{
		"-t", strconv.Itoa(sc.Threads), "-c", strconv.Itoa(sc.Conns), "-m", strconv.Itoa(sc.Streams),
		"-D", strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second))),
		"--log-file=" + logFile,
	}
	if sc.Proto == protoHTTP {
		args = append(args, "--h1")
	}
	if sc.Rate > 0 {
		args = append(args, "--rps", strconv.Itoa(sc.Rate))
	}
	if sc.Post {
		args = append(args, "-d", h.postFile, "-H", "content-type: application/octet-stream")
	}
	args = append(args, baseURL+sc.Path)
	ctx, cancel := context.WithTimeout(ctx, d+60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	if err != nil {
		return wrkResult{}, fmt.Errorf("h2load %s: %w\n%s", strings.Join(args, " "), err, text)
	}
	res, err := parseH2load(text)
	if err != nil {
		return wrkResult{}, fmt.Errorf("h2load %s: %w\n%s", strings.Join(args, " "), err, text)
	}
	if f, err := os.Open(logFile); err == nil {
		res.P50, res.P99, err = h2loadPercentiles(f)
		f.Close()
		if err != nil {
			return res, fmt.Errorf("h2load's request log: %w", err)
		}
	}
	_ = os.Remove(logFile)
	if ps := cmd.ProcessState; ps != nil {
		res.CPU = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	return res, nil
}

var (
	h2FinishedRE = regexp.MustCompile(`(?m)^finished in ([\d.]+)(us|ms|s), ([\d.]+) req/s`)
	h2RequestsRE = regexp.MustCompile(`(?m)^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2StatusRE   = regexp.MustCompile(`(?m)^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

// parseH2load reads h2load's summary. Requests are the completed ones;
// failed requests with a 4xx/5xx status count as Non2xx, the other failed
// ones (stream or connection errors, requests never sent) as Read, timeouts
// as Timeout. h2load's timing mode (-D) counts nothing when it cannot
// connect: a run with no request at all is an error.
func parseH2load(s string) (wrkResult, error) {
	var r wrkResult
	m := h2FinishedRE.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("no \"finished in\" line in h2load's output")
	}
	d, err := parseWrkDuration(m[1] + m[2])
	if err != nil {
		return r, err
	}
	r.Seconds = d.Seconds()
	r.RPS, _ = strconv.ParseFloat(m[3], 64)
	m = h2RequestsRE.FindStringSubmatch(s)
	if m == nil {
		return r, fmt.Errorf("no \"requests:\" line in h2load's output")
	}
	n := make([]int64, 8)
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.ParseInt(m[i], 10, 64)
	}
	done, failed, timeout := n[3], n[5], n[7]
	if st := h2StatusRE.FindStringSubmatch(s); st != nil {
		for _, i := range []int{3, 4} {
			v, _ := strconv.ParseInt(st[i], 10, 64)
			r.Non2xx += v
		}
	}
	r.Requests = done
	r.Read = max(0, failed-r.Non2xx-timeout)
	r.Timeout = timeout
	if done == 0 && failed == 0 {
		return r, fmt.Errorf("h2load completed no request (could it connect?)")
	}
	return r, nil
}

// h2loadPercentiles reads h2load's --log-file (start µs, status, µs to the
// end of the response, tab-separated) and returns the 50th and 99th
// percentiles of the response times.
func h2loadPercentiles(r io.Reader) (p50, p99 time.Duration, err error) {
	var us []int64
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(f[2]), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("response time %q: %w", f[2], err)
		}
		us = append(us, v)
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	d := percentiles(us, 0.50, 0.99)
	return time.Duration(d[0]) * time.Microsecond, time.Duration(d[1]) * time.Microsecond, nil
}

// percentiles sorts xs and returns the nearest-rank percentiles qs (0–1);
// 0 for an empty xs.
func percentiles(xs []int64, qs ...float64) []int64 {
	slices.Sort(xs)
	out := make([]int64, len(qs))
	if len(xs) == 0 {
		return out
	}
	for i, q := range qs {
		k := int(q*float64(len(xs))+0.999999999) - 1
		out[i] = xs[min(max(k, 0), len(xs)-1)]
	}
	return out
}

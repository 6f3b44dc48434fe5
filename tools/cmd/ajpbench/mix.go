package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The page mix is run by ajpbench itself in a child process (`ajpbench
// mixload`), so its CPU is measured apart from ajpbench's, as wrk's and
// h2load's are. h2load cannot do it: it sends one method and one header set
// to every URI and keeps no cookies, and a page view here needs a session
// cookie and per-resource ETags.

// mixResult is what `ajpbench mixload` prints, as JSON, on stdout.
type mixResult struct {
	Requests    int64   `json:"requests"`
	PageViews   int64   `json:"page_views"`
	NotModified int64   `json:"not_modified"`
	Seconds     float64 `json:"seconds"`
	P50         int64   `json:"p50_us"`
	P99         int64   `json:"p99_us"`
	TransportEr int64   `json:"transport_errors"`
	StatusEr    int64   `json:"status_errors"`
	FirstError  string  `json:"first_error,omitempty"`
}

// mixForm is the form the page view posts: a comment box.
var mixForm = url.Values{"title": {"Weekly report"}, "comment": {strings.Repeat("All good here. ", 30)}, "notify": {"on"}}.Encode()

// mixRun starts `ajpbench mixload` for one run.
type mixRun struct {
	self     string // os.Executable
	certFile string
}

func (m mixRun) run(ctx context.Context, sc scenario, baseURL string, d time.Duration) (wrkResult, error) {
	args := []string{"mixload", "-url", baseURL, "-users", strconv.Itoa(sc.Conns), "-duration", d.String(), "-cert", m.certFile}
	ctx, cancel := context.WithTimeout(ctx, d+60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.self, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("ajpbench %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var mr mixResult
	if err := json.Unmarshal(stdout.Bytes(), &mr); err != nil {
		return wrkResult{}, fmt.Errorf("ajpbench mixload: %w: %q", err, stdout.String())
	}
	res := mixToWrk(mr)
	if ps := cmd.ProcessState; ps != nil {
		res.CPU = (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	if res.Requests == 0 {
		return res, fmt.Errorf("ajpbench mixload completed no request: %s", mr.FirstError)
	}
	return res, nil
}

// mixToWrk maps the mix client's counts onto the table's columns.
func mixToWrk(mr mixResult) wrkResult {
	r := wrkResult{
		Requests: mr.Requests, Seconds: mr.Seconds,
		P50: time.Duration(mr.P50) * time.Microsecond, P99: time.Duration(mr.P99) * time.Microsecond,
		Read: mr.TransportEr, Non2xx: mr.StatusEr,
	}
	if mr.Seconds > 0 {
		r.RPS = float64(mr.Requests) / mr.Seconds
	}
	return r
}

// mixMain is `ajpbench mixload`: simulated users, each on its own HTTP/2
// connection, viewing pages until the duration is over.
func mixMain(args []string) error {
	fs := flag.NewFlagSet("mixload", flag.ContinueOnError)
	base := fs.String("url", "", "the front end's https:// URL")
	users := fs.Int("users", 50, "simulated users, one HTTP/2 connection each")
	duration := fs.Duration("duration", 10*time.Second, "how long to start page views")
	certFile := fs.String("cert", "", "the certificate to trust (PEM)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := benchCert{CertFile: *certFile}
	if err := c.load(); err != nil {
		return err
	}
	res := runMix(*base, *users, *duration, c)
	return json.NewEncoder(os.Stdout).Encode(res)
}

// mixUser is one simulated browser.
type mixUser struct {
	client *http.Client
	base   string
	etags  []string // by staticFiles index, learned before the clock starts
}

type mixStats struct {
	requests, pageViews, notModified, transport, status atomic.Int64
	mu                                                  sync.Mutex
	firstErr                                            string
}

func (s *mixStats) fail(transport bool, err string) {
	if transport {
		s.transport.Add(1)
	} else {
		s.status.Add(1)
	}
	s.mu.Lock()
	if s.firstErr == "" {
		s.firstErr = err
	}
	s.mu.Unlock()
}

func newMixUser(base string, c benchCert) *mixUser {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{
		TLSClientConfig:    &tls.Config{RootCAs: c.Pool, MinVersion: tls.VersionTLS13},
		ForceAttemptHTTP2:  true,
		DisableCompression: true,
		MaxConnsPerHost:    1, // one connection per user, as a browser over HTTP/2
	}
	return &mixUser{client: &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second}, base: base}
}

// do sends one request and checks its status; lat receives its duration.
func (u *mixUser) do(method, path, body, etag string, want int, st *mixStats, lat *[]int64) (*http.Response, bool) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, u.base+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	start := time.Now()
	resp, err := u.client.Do(req)
	if err != nil {
		st.fail(true, fmt.Sprintf("%s %s: %v", method, path, err))
		return nil, false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if lat != nil {
		*lat = append(*lat, time.Since(start).Microseconds())
	}
	switch {
	case err != nil:
		st.fail(true, fmt.Sprintf("%s %s: reading the body: %v", method, path, err))
		return nil, false
	case resp.ProtoMajor != 2:
		st.fail(false, fmt.Sprintf("%s %s: answered over %s, want HTTP/2", method, path, resp.Proto))
		return nil, false
	case resp.StatusCode != want:
		st.fail(false, fmt.Sprintf("%s %s: status %d, want %d", method, path, resp.StatusCode, want))
		return nil, false
	}
	st.requests.Add(1)
	return resp, true
}

// pageView is one page: the session page, its resources at once (the even
// ones revalidated), then the form POST.
func (u *mixUser) pageView(st *mixStats, lat *[]int64) {
	if _, ok := u.do("GET", "/share/session.jsp", "", "", 200, st, lat); !ok {
		return
	}
	files := staticFiles()
	lats := make([][]int64, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			etag, want := "", 200
			if i%2 == 0 && u.etags[i] != "" {
				etag, want = u.etags[i], 304
			}
			if _, ok := u.do("GET", staticPath+"/"+f.Name, "", etag, want, st, &lats[i]); ok && want == 304 {
				st.notModified.Add(1)
			}
		}()
	}
	wg.Wait()
	for _, l := range lats {
		*lat = append(*lat, l...)
	}
	if _, ok := u.do("POST", "/share/echo.jsp", mixForm, "", 200, st, lat); ok {
		st.pageViews.Add(1)
	}
}

func runMix(base string, users int, d time.Duration, c benchCert) mixResult {
	st := &mixStats{}
	us := make([]*mixUser, users)
	// Before the clock: each user connects and fetches the resources it will
	// revalidate, as a browser with a warm cache.
	var wg sync.WaitGroup
	for i := range us {
		us[i] = newMixUser(base, c)
		wg.Add(1)
		go func(u *mixUser) {
			defer wg.Done()
			u.etags = make([]string, len(staticFiles()))
			for k, f := range staticFiles() {
				if k%2 == 0 {
					if resp, ok := u.do("GET", staticPath+"/"+f.Name, "", "", 200, &mixStats{}, nil); ok {
						u.etags[k] = resp.Header.Get("ETag")
					}
				}
			}
		}(us[i])
	}
	wg.Wait()
	start := time.Now()
	deadline := start.Add(d)
	lats := make([][]int64, users)
	for i, u := range us {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				u.pageView(st, &lats[i])
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var all []int64
	for _, l := range lats {
		all = append(all, l...)
	}
	p := percentiles(all, 0.50, 0.99)
	for _, u := range us {
		u.client.CloseIdleConnections()
	}
	return mixResult{
		Requests: st.requests.Load(), PageViews: st.pageViews.Load(), NotModified: st.notModified.Load(),
		Seconds: elapsed, P50: p[0], P99: p[1],
		TransportEr: st.transport.Load(), StatusEr: st.status.Load(), FirstError: st.firstErr,
	}
}

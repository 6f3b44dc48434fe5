package apacheconf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// jkWorkers is a workers.properties: its properties and where each was set.
type jkWorkers struct {
	file  string
	props map[string]string
	lines map[string]int
	from  *directive // the JkWorkersFile line
}

// errStatusWorker: a JkMount of a status worker, which the adapter leaves
// out with a warning.
var errStatusWorker = errors.New("status worker")

var propVarRE = regexp.MustCompile(`\$\(([^)]+)\)`)

// readWorkers reads a workers.properties (jk_map.c's format: key=value,
// # comments, a trailing backslash continues a line, $(key) refers to
// another property, and worker.X.balance_workers lines accumulate).
func readWorkers(path string, from *directive) (*jkWorkers, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, errAt(from, "JkWorkersFile: %v", err)
	}
	ws := &jkWorkers{file: path, props: map[string]string{}, lines: map[string]int{}, from: from}
	sc := bufio.NewScanner(bytes.NewReader(body))
	n := 0
	for sc.Scan() {
		n++
		start := n
		line := strings.TrimSpace(sc.Text())
		for strings.HasSuffix(line, "\\") && sc.Scan() {
			n++
			line = strings.TrimSuffix(line, "\\") + strings.TrimSpace(sc.Text())
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, &ParseError{File: path, Line: start, Msg: fmt.Sprintf("%q: want key=value", line)}
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		v = propVarRE.ReplaceAllStringFunc(v, func(m string) string {
			if r, ok := ws.props[m[2:len(m)-1]]; ok {
				return r
			}
			return m
		})
		if old, ok := ws.props[k]; ok && (strings.HasSuffix(k, ".balance_workers") || strings.HasSuffix(k, ".balanced_workers") || k == "worker.list") {
			v = old + "," + v
		}
		ws.props[k], ws.lines[k] = v, start
	}
	return ws, nil
}

// get is worker.NAME.KEY, following reference= (and the deprecated
// sysprops) to a template worker.
func (ws *jkWorkers) get(worker, key string) (string, int, bool) {
	for range 16 {
		k := "worker." + worker + "." + key
		if v, ok := ws.props[k]; ok {
			return v, ws.lines[k], true
		}
		ref, ok := ws.props["worker."+worker+".reference"]
		if !ok {
			return "", 0, false
		}
		worker = strings.TrimPrefix(ref, "worker.")
	}
	return "", 0, false
}

// at is a directive standing for a line of workers.properties, so warnings
// and errors name it.
func (ws *jkWorkers) at(key string, line int) *directive {
	return &directive{name: key, file: ws.file, line: line}
}

// jkDuration reads a mod_jk time in milliseconds.
func jkMillis(v string) (time.Duration, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a number of milliseconds", v)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// worker makes the balancerDef for a mod_jk worker: an lb worker with its
// balance_workers, or one ajp13 worker as a balancer of one member without
// a policy.
func (c *config) worker(name string, from *directive) (*balancerDef, error) {
	ws := c.workers
	if ws == nil {
		return nil, errAt(from, "%s names worker %q, but no JkWorkersFile was read", from.name, name)
	}
	typ, line, ok := ws.get(name, "type")
	if !ok {
		typ = "ajp13"
		if _, _, ok := ws.get(name, "host"); !ok {
			if _, _, ok := ws.get(name, "balance_workers"); !ok {
				return nil, errAt(from, "%s names worker %q, which %s does not define", from.name, name, ws.file)
			}
			typ = "lb"
		}
	}
	b := &balancerDef{name: name, at: ws.at("worker."+name+".type", line), params: map[string]string{}, paramAt: map[string]*directive{}, jk: true}
	switch typ {
	case "lb":
		list, lline, _ := ws.get(name, "balance_workers")
		if list == "" {
			list, lline, _ = ws.get(name, "balanced_workers")
		}
		seen := map[string]bool{}
		for _, mw := range strings.Split(list, ",") {
			mw = strings.TrimSpace(mw)
			if mw == "" || seen[mw] {
				continue
			}
			seen[mw] = true
			m, err := c.jkMember(mw)
			if err != nil {
				return nil, err
			}
			b.members = append(b.members, m)
		}
		if len(b.members) == 0 {
			return nil, errAt(ws.at("worker."+name+".balance_workers", lline), "lb worker %s has no balance_workers", name)
		}
		c.jkBalancerParams(b)
	case "ajp13":
		m, err := c.jkMember(name)
		if err != nil {
			return nil, err
		}
		b.members = []*memberDef{m}
		b.params["_single"] = "on"
	case "status":
		return nil, errStatusWorker
	default:
		return nil, errAt(b.at, "worker %s has type %s: only ajp13 and lb workers are translated", name, typ)
	}
	return b, nil
}

// jkMember reads an ajp13 worker into a member with Apache's parameter
// names, so one mapping serves both.
func (c *config) jkMember(name string) (*memberDef, error) {
	ws := c.workers
	typ, tline, ok := ws.get(name, "type")
	if ok && typ != "ajp13" {
		return nil, errAt(ws.at("worker."+name+".type", tline), "worker %s in a balance_workers list has type %s: only ajp13 members are translated", name, typ)
	}
	host, hline, ok := ws.get(name, "host")
	if !ok {
		host = "localhost"
	}
	port, _, ok := ws.get(name, "port")
	if !ok {
		port = "8009"
	}
	m := &memberDef{at: ws.at("worker."+name+".host", hline), addr: net.JoinHostPort(host, port), params: map[string]string{"route": name}}
	set := func(key, param string, conv func(string) (string, error)) error {
		v, line, ok := ws.get(name, key)
		if !ok {
			return nil
		}
		if conv != nil {
			cv, err := conv(v)
			if err != nil {
				return errAt(ws.at("worker."+name+"."+key, line), "worker.%s.%s: %v", name, key, err)
			}
			v = cv
		}
		m.params[param] = v
		return nil
	}
	ms := func(v string) (string, error) {
		d, err := jkMillis(v)
		return d.String(), err
	}
	secs := func(v string) (string, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return "", fmt.Errorf("%q is not a number of seconds", v)
		}
		return strconv.Itoa(n), nil
	}
	activation := func(v string) (string, error) {
		switch strings.ToUpper(v[:min(1, len(v))]) {
		case "A":
			return "-D", nil
		case "D":
			return "+D", nil
		case "S":
			return "+S", nil
		}
		return "", fmt.Errorf("activation %q: want active, disabled or stopped", v)
	}
	for _, s := range []struct {
		key, param string
		conv       func(string) (string, error)
	}{
		{"route", "route", nil}, {"jvm_route", "route", nil}, {"lbfactor", "loadfactor", nil}, {"activation", "status", activation},
		{"redirect", "redirect", nil}, {"secret", "secret", nil}, {"ping_timeout", "ping", ms},
		{"socket_connect_timeout", "connectiontimeout", ms}, {"reply_timeout", "timeout", ms},
		{"connection_pool_timeout", "ttl", secs}, {"connection_pool_size", "max", nil},
		{"max_packet_size", "_packet_size", nil}, {"recovery_options", "_ignored", nil},
	} {
		if err := set(s.key, s.param, s.conv); err != nil {
			return nil, err
		}
	}
	if v, _, ok := ws.get(name, "disabled"); ok && (v == "true" || v == "1") {
		m.params["status"] = "+D"
	}
	if v, _, ok := ws.get(name, "stopped"); ok && (v == "true" || v == "1") {
		m.params["status"] = "+S"
	}
	delete(m.params, "_ignored")
	for _, k := range sortedKeys(ws.lines) {
		line := ws.lines[k]
		rest, ok := strings.CutPrefix(k, "worker."+name+".")
		if !ok || slices.Contains(jkKnownMemberKeys, rest) {
			continue
		}
		c.w.notTranslated(ws.at(k, line), "mod_jk worker property %s is not translated", rest)
	}
	return m, nil
}

var jkKnownMemberKeys = []string{"type", "host", "port", "route", "jvm_route", "lbfactor", "activation", "redirect", "secret",
	"ping_timeout", "socket_connect_timeout", "reply_timeout", "connection_pool_timeout", "connection_pool_size",
	"max_packet_size", "disabled", "stopped", "reference", "ping_mode", "connection_pool_minsize", "socket_keepalive",
	"connect_timeout", "prepost_timeout", "recovery_options", "retries", "socket_timeout"}

// jkBalancerParams maps an lb worker's properties to the balancer words.
func (c *config) jkBalancerParams(b *balancerDef) {
	ws := c.workers
	b.params["stickysession"] = "JSESSIONID|jsessionid"
	cookie, path := "JSESSIONID", "jsessionid"
	for _, key := range sortedKeys(ws.lines) {
		line := ws.lines[key]
		rest, ok := strings.CutPrefix(key, "worker."+b.name+".")
		if !ok {
			continue
		}
		v := ws.props[key]
		at := ws.at(key, line)
		switch rest {
		case "type", "balance_workers", "balanced_workers":
		case "sticky_session":
			if v == "false" || v == "0" || strings.EqualFold(v, "off") {
				c.w.note(at, "sticky_session=false: caddy-ajp's sticky_route still sends a request whose session id names a route to that route's node")
			}
		case "session_cookie":
			cookie = v
		case "session_path":
			path = strings.TrimPrefix(v, ";")
		case "sticky_session_force":
			if v == "true" || v == "1" {
				b.params["nofailover"] = "On"
			}
		case "method":
			switch strings.ToUpper(v[:min(1, len(v))]) {
			case "B", "T":
				b.params["lbmethod"] = map[string]string{"B": "bybusyness", "T": "bytraffic"}[strings.ToUpper(v[:1])]
			case "R":
			default:
				c.w.note(at, "method=%s is not translated: new sessions are spread by request (loadfactor-weighted)", v)
			}
		case "retries":
			b.params["maxattempts"] = v
		case "recover_time":
			b.params["_retry"] = v
		case "error_escalation_time", "max_reply_timeouts", "secret":
			c.w.ignore(at, "caddy-ajp's passive and active health checks decide when a member is out")
		default:
			c.w.notTranslated(at, "mod_jk lb property %s is not translated", rest)
		}
	}
	b.params["stickysession"] = cookie + "|" + path
}

// jkMount reads JkMount/JkUnMount: `JkMount /path/* worker`, or in
// <Location> `JkMount worker`.
func (c *config) jkMount(s *server, d *directive, loc string) error {
	args := d.args
	r := &rule{at: d, jk: true, exclude: d.is("JkUnMount"), params: map[string]string{}}
	switch {
	case loc != "" && len(args) == 1:
		r.path, r.target = loc, args[0]
	case len(args) == 2:
		r.path, r.target = args[0], args[1]
	default:
		return errAt(d, "%s takes a URL pattern and a worker", d.name)
	}
	if !strings.HasPrefix(r.path, "/") && !strings.HasPrefix(r.path, "*") {
		return errAt(d, "%s %s: the pattern must start with / or *", d.name, r.path)
	}
	s.jkMounts = append(s.jkMounts, r)
	return nil
}

// jkMountFile reads a uriworkermap.properties: /pattern=worker lines, !
// for an unmount, - for a disabled mount (skipped).
func (c *config) jkMountFile(s *server, d *directive) error {
	if len(d.args) != 1 {
		return errAt(d, "JkMountFile takes one file")
	}
	path := c.l.path(d.args[0])
	body, err := os.ReadFile(path)
	if err != nil {
		return errAt(d, "JkMountFile: %v", err)
	}
	for i, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = strings.TrimSpace(line[:j])
		}
		if line == "" {
			continue
		}
		at := &directive{name: "JkMount", file: path, line: i + 1}
		pat, worker, ok := strings.Cut(line, "=")
		if !ok {
			return errAt(at, "%q: want /pattern=worker", line)
		}
		pat, worker = strings.TrimSpace(pat), strings.TrimSpace(worker)
		switch {
		case strings.HasPrefix(pat, "-"):
			continue // disabled mount
		case strings.HasPrefix(pat, "!"):
			at.name, pat = "JkUnMount", pat[1:]
		}
		at.args = []string{pat, worker}
		if err := c.jkMount(s, at, ""); err != nil {
			return err
		}
	}
	return nil
}

package apacheconf

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddy-ajp/caddy-ajp/internal/apachewords"
)

// config is what the adapter read: the Listen ports, the main server, the
// virtual hosts, and the mod_jk workers.
type config struct {
	listens []listen
	main    *server
	vhosts  []*server
	workers *jkWorkers
	l       *loader
	w       *warnings
}

// listen is one Listen: the address Caddy listens on (":80",
// "127.0.0.1:8080") and its port.
type listen struct {
	addr, port string
	at         *directive
}

func newServer(vhost *directive) *server {
	return &server{vhost: vhost, balancers: map[string]*balancerDef{}}
}

// read walks the expanded top level.
func (c *config) read(ds []*directive) error {
	for _, d := range ds {
		switch {
		case d.is("Listen"):
			if err := c.listen(d); err != nil {
				return err
			}
		case d.section && d.is("VirtualHost"):
			v := newServer(d)
			for _, a := range d.args {
				_, port, err := net.SplitHostPort(a)
				if err != nil {
					port = "80" // httpd: an address without a port is port 80 unless Listen says otherwise
					if p, ok := c.soleListenPort(); ok {
						port = p
					}
				}
				if port == "*" {
					return errAt(d, "<VirtualHost %s>: a wildcard port cannot be translated; name the port", a)
				}
				v.ports = append(v.ports, port)
			}
			if len(v.ports) == 0 {
				return errAt(d, "<VirtualHost> needs an address such as *:80")
			}
			for _, inner := range d.block {
				if err := c.serverDirective(v, inner); err != nil {
					return err
				}
			}
			c.vhosts = append(c.vhosts, v)
		case d.is("JkWorkersFile"):
			if len(d.args) != 1 {
				return errAt(d, "JkWorkersFile takes one file")
			}
			ws, err := readWorkers(c.l.path(d.args[0]), d)
			if err != nil {
				return err
			}
			c.workers = ws
			c.w.ignore(d, "its workers are translated where JkMount uses them")
		default:
			if err := c.serverDirective(c.main, d); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *config) listen(d *directive) error {
	if len(d.args) == 0 || len(d.args) > 2 {
		return errAt(d, "Listen takes an address and an optional protocol")
	}
	a := d.args[0]
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		host, port = "", a
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return errAt(d, "Listen %s: %q is not a port", a, port)
	}
	c.listens = append(c.listens, listen{addr: net.JoinHostPort(host, port), port: port, at: d})
	return nil
}

func (c *config) soleListenPort() (string, bool) {
	if len(c.listens) == 1 {
		return c.listens[0].port, true
	}
	return "", false
}

// serverDirective reads one directive of the main server or a vhost.
func (c *config) serverDirective(s *server, d *directive) error {
	name := strings.ToLower(d.name)
	if d.section {
		switch name {
		case "proxy":
			return c.proxySection(s, d)
		case "location":
			return c.location(s, d)
		case "virtualhost":
			return errAt(d, "<VirtualHost> inside <VirtualHost> is not allowed")
		}
		if len(d.block) == 0 {
			c.w.ignore(d, "empty section")
			return nil
		}
		c.w.notTranslated(d, "%s; its %d directive(s) apply to none of Caddy's routes: add the equivalent matcher and handlers by hand",
			sectionHint(name), countDirectives(d.block))
		return nil
	}
	switch name {
	case "servername":
		if len(d.args) != 1 {
			return errAt(d, "ServerName takes one name")
		}
		s.names = append([]string{hostOnly(d.args[0])}, s.names...)
	case "serveralias":
		for _, a := range d.args {
			s.names = append(s.names, hostOnly(a))
		}
	case "documentroot":
		if len(d.args) != 1 {
			return errAt(d, "DocumentRoot takes one directory")
		}
		s.docRoot = c.l.path(d.args[0])
	case "sslengine":
		s.sslEngine = len(d.args) == 1 && strings.EqualFold(d.args[0], "on")
	case "sslcertificatefile", "sslcertificatekeyfile", "sslverifyclient", "sslcacertificatefile":
		return c.tlsDirective(s, d)
	case "proxypass", "proxypassmatch":
		return c.proxyPass(s, d, "")
	case "proxypassreverse", "proxypassreversecookiepath", "proxypassreversecookiedomain":
		return c.proxyReverse(s, d, "")
	case "balancermember":
		if len(d.args) < 2 {
			return errAt(d, "BalancerMember outside <Proxy> needs the balancer URL first: BalancerMember balancer://NAME ajp://host:port/path")
		}
		b, err := c.balancer(s, d, d.args[0])
		if err != nil {
			return err
		}
		return addMember(b, d, d.args[1:])
	case "proxyset":
		if len(d.args) < 2 {
			c.w.notTranslated(d, "%s", hints["proxyset"])
			return nil
		}
		return c.proxySet(s, d, d.args[0], d.args[1:])
	case "proxyiobuffersize":
		n, err := strconv.Atoi(arg0(d))
		if err != nil {
			return errAt(d, "ProxyIOBufferSize %q: want a number of bytes", arg0(d))
		}
		s.ioBufferSize = n
	case "proxytimeout":
		dur, err := apachewords.Duration(arg0(d))
		if err != nil || dur <= 0 {
			return errAt(d, "ProxyTimeout %q: want seconds", arg0(d))
		}
		s.proxyTimeout = dur
	case "proxyrequests":
		if strings.EqualFold(arg0(d), "on") {
			c.w.notTranslated(d, "forward proxying (ProxyRequests On) has no Caddy equivalent in caddy-ajp; use the forwardproxy plugin")
			return nil
		}
		c.w.ignore(d, ignored[name])
	case "jkmount", "jkunmount":
		return c.jkMount(s, d, "")
	case "jkmountfile":
		return c.jkMountFile(s, d)
	case "jkmountcopy":
		switch v := strings.ToLower(arg0(d)); {
		case v == "on" && s.vhost != nil:
			s.jkMountCopy = true
		case v == "all" && s.vhost == nil:
			c.main.jkMountCopy = true
		case v == "off":
		default:
			return errAt(d, "JkMountCopy takes On or Off (or All at server level)")
		}
	default:
		if why, ok := ignored[name]; ok {
			c.w.ignore(d, why)
			return nil
		}
		if h, ok := hints[name]; ok {
			c.w.notTranslated(d, "%s", h)
			return nil
		}
		c.w.notTranslated(d, "the adapter does not know this directive; if it changes how requests are handled, add the equivalent by hand")
	}
	return nil
}

func sectionHint(name string) string {
	switch name {
	case "directory", "directorymatch", "files", "filesmatch":
		return "<Directory>/<Files> sections (file system access rules) are not translated"
	case "if", "elseif", "else":
		return "<If>/<ElseIf>/<Else> expressions are not translated (Caddy's `expression` matcher can express many)"
	case "locationmatch":
		return "<LocationMatch> is not translated (use a path_regexp matcher)"
	case "limit", "limitexcept":
		return "<Limit>/<LimitExcept> are not translated (use a `method` matcher)"
	case "proxymatch":
		return "<ProxyMatch> is not translated"
	}
	return "this section is not translated"
}

func countDirectives(ds []*directive) int {
	n := 0
	for _, d := range ds {
		n++
		if d.section {
			n += countDirectives(d.block)
		}
	}
	return n
}

func arg0(d *directive) string {
	if len(d.args) == 0 {
		return ""
	}
	return d.args[0]
}

// hostOnly drops a port or scheme from a ServerName (httpd allows
// "https://www.example.com:443").
func hostOnly(n string) string {
	if u, err := url.Parse(n); err == nil && u.Host != "" {
		n = u.Host
	}
	if h, _, err := net.SplitHostPort(n); err == nil {
		return h
	}
	return n
}

// location reads a <Location path>: ProxyPass and ProxyPassReverse without
// a path, JkMount with only a worker.
func (c *config) location(s *server, d *directive) error {
	if len(d.args) != 1 {
		return errAt(d, "<Location> takes one path")
	}
	path := d.args[0]
	for _, in := range d.block {
		switch strings.ToLower(in.name) {
		case "proxypass":
			if err := c.proxyPass(s, in, path); err != nil {
				return err
			}
		case "proxypassreverse", "proxypassreversecookiepath", "proxypassreversecookiedomain":
			if err := c.proxyReverse(s, in, path); err != nil {
				return err
			}
		case "jkmount", "jkunmount":
			if err := c.jkMount(s, in, path); err != nil {
				return err
			}
		default:
			if in.section {
				c.w.notTranslated(in, "%s (inside <Location %s>)", sectionHint(strings.ToLower(in.name)), path)
			} else if why, ok := ignored[strings.ToLower(in.name)]; ok {
				c.w.ignore(in, why)
			} else if h, ok := hints[strings.ToLower(in.name)]; ok {
				c.w.notTranslated(in, "inside <Location %s>: %s", path, h)
			} else {
				c.w.notTranslated(in, "inside <Location %s>: the adapter does not know this directive; add the equivalent by hand", path)
			}
		}
	}
	return nil
}

package apacheconf

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// build makes the Caddy config: one HTTP server per port, whose routes
// pick the virtual host by Host (the first vhost of a port is httpd's
// default, last and without a host matcher), and the TLS app's
// certificates.
func (c *config) build() (map[string]any, error) {
	ports, listenOf := c.ports()
	servers := map[string]any{}
	var loadFiles []map[string]any
	for _, port := range ports {
		var vhosts []*server
		for _, v := range c.vhosts {
			if slices.Contains(v.ports, port) {
				vhosts = append(vhosts, v)
			}
		}
		srv := map[string]any{"listen": listenOf[port]}
		var routes []route
		tlsOn := false
		var policies []map[string]any
		var skip []string
		var def *route
		if len(vhosts) == 0 {
			rs, err := c.serverRoutes(c.main)
			if err != nil {
				return nil, err
			}
			routes = rs
		}
		for i, v := range vhosts {
			rs, err := c.serverRoutes(v)
			if err != nil {
				return nil, err
			}
			names := v.names
			if len(names) == 0 {
				names = c.main.names
			}
			isDefault := i == 0
			rt := route{Handle: []json.RawMessage{subroute(rs)}, Terminal: true}
			if v.sslEngine {
				tlsOn = true
				pol := map[string]any{}
				if v.certFile != "" {
					if v.keyFile == "" {
						return nil, errAt(v.certAt, "SSLCertificateFile without SSLCertificateKeyFile in this <VirtualHost>: give the key file (a key inside the certificate file is not read)")
					}
					tag := "apache_" + strconv.Itoa(len(loadFiles))
					loadFiles = append(loadFiles, map[string]any{"certificate": v.certFile, "key": v.keyFile, "tags": []string{tag}})
					pol["certificate_selection"] = map[string]any{"any_tag": []string{tag}}
					skip = append(skip, names...)
				} else {
					c.w.list = append(c.w.list, caddyconfig.Warning{File: v.vhost.file, Line: v.vhost.line, Directive: "SSLEngine",
						Message: "this TLS <VirtualHost> names no SSLCertificateFile: Caddy's automatic HTTPS gets a certificate for " + nameList(names)})
				}
				if mode := clientAuthMode(v.verifyClient, v.caFile != ""); mode != "" {
					ca := map[string]any{"mode": mode}
					if v.caFile != "" && mode != "request" {
						ca["ca"] = map[string]any{"provider": "file", "pem_files": []string{v.caFile}}
					}
					pol["client_authentication"] = ca
				} else if v.verifyClient == "" && v.caFile != "" {
					c.w.ignore(&directive{name: "SSLCACertificateFile", file: v.vhost.file, line: v.vhost.line}, "only used with SSLVerifyClient")
				}
				if len(names) > 0 && (!isDefault || v.certFile == "") {
					pol["match"] = map[string]any{"sni": names}
				}
				if len(pol) > 0 {
					policies = append(policies, pol)
				}
			}
			if !isDefault || (v.sslEngine && v.certFile == "" && len(names) > 0) {
				if len(names) == 0 {
					c.w.notTranslated(v.vhost, "this <VirtualHost> has no ServerName and is not the first for port %s, so httpd never chooses it by name; it is left out", port)
					continue
				}
				rt.Match = []map[string]any{{"host": names}}
			}
			if isDefault {
				def = &rt
				continue
			}
			routes = append(routes, rt)
		}
		if def != nil {
			routes = append(routes, *def) // httpd's default vhost: every other Host
		}
		srv["routes"] = routes
		if tlsOn {
			slices.SortStableFunc(policies, func(a, b map[string]any) int {
				_, am := a["match"]
				_, bm := b["match"]
				switch {
				case am && !bm:
					return -1
				case bm && !am:
					return 1
				}
				return 0
			})
			if len(policies) > 0 {
				if _, ok := policies[len(policies)-1]["match"]; ok {
					policies = append(policies, map[string]any{})
				}
				srv["tls_connection_policies"] = policies
			}
			ah := map[string]any{"disable_redirects": true}
			if len(skip) > 0 {
				ah["skip_certificates"] = skip
			}
			srv["automatic_https"] = ah
		} else {
			srv["automatic_https"] = map[string]any{"disable": true}
		}
		servers["apache_"+port] = srv
	}
	apps := map[string]any{"http": map[string]any{"servers": servers}}
	if len(loadFiles) > 0 {
		apps["tls"] = map[string]any{"certificates": map[string]any{"load_files": loadFiles}}
	}
	return map[string]any{"apps": apps}, nil
}

func nameList(names []string) string {
	if len(names) == 0 {
		return "no name (there is no ServerName): add one, or a certificate"
	}
	return strings.Join(names, ", ")
}

// ports are the ports to serve, in order, with the addresses Caddy listens
// on for each: the Listen lines, or the vhosts' ports when there are none
// (a site file adapted on its own).
func (c *config) ports() ([]string, map[string][]string) {
	var ports []string
	listenOf := map[string][]string{}
	for _, l := range c.listens {
		if !slices.Contains(ports, l.port) {
			ports = append(ports, l.port)
		}
		listenOf[l.port] = append(listenOf[l.port], l.addr)
	}
	if len(c.listens) > 0 {
		for _, v := range c.vhosts {
			for _, p := range v.ports {
				if _, ok := listenOf[p]; !ok {
					c.w.notTranslated(v.vhost, "no Listen for port %s: httpd does not serve this <VirtualHost> there, nor does Caddy", p)
				}
			}
		}
		return ports, listenOf
	}
	for _, v := range c.vhosts {
		for _, p := range v.ports {
			if !slices.Contains(ports, p) {
				ports = append(ports, p)
				listenOf[p] = []string{":" + p}
			}
		}
	}
	if len(ports) == 0 {
		ports, listenOf["80"] = []string{"80"}, []string{":80"}
	}
	return ports, listenOf
}

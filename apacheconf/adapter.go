// Package apacheconf is the Caddy config adapter `apache`: it reads an
// Apache httpd configuration that fronts Tomcat with mod_proxy_ajp +
// mod_proxy_balancer or mod_jk, and writes Caddy JSON that uses caddy-ajp's
// modules (the AJP transport, sticky_route, ajp_path_map) and Caddy's
// standard ones. Every directive it does not translate is a warning naming
// its file and line; in strict mode, one that changed request handling is
// an error.
//
//	caddy adapt --adapter apache --config /etc/apache2/apache2.conf
package apacheconf

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

func init() {
	caddyconfig.RegisterAdapter("apache", Adapter{})
}

// Adapter adapts httpd configurations to Caddy JSON.
//
// Options (Caddy passes `filename`, the --config file; the others are for
// callers of the Go API):
//   - filename: the configuration's path. Its directory is ServerRoot until
//     a ServerRoot line says otherwise, and files are named by it in
//     warnings and errors.
//   - server_root: ServerRoot to start with, instead of the file's
//     directory (httpd's compiled-in default, /etc/apache2 on Debian).
//   - strict: true refuses a configuration with directives that change
//     request handling and are not translated. A comment line
//     `# caddy-ajp: strict` in any file read does the same.
type Adapter struct{}

// strictComment turns strict mode on from inside the configuration.
var strictComment = regexp.MustCompile(`(?m)^[ \t]*#[ \t]*caddy-ajp:[ \t]*strict[ \t]*$`)

// Adapt converts an httpd configuration to Caddy JSON.
func (Adapter) Adapt(body []byte, options map[string]any) ([]byte, []caddyconfig.Warning, error) {
	file, _ := options["filename"].(string)
	if file == "" {
		file = "httpd.conf"
	}
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	root, _ := options["server_root"].(string)
	if root == "" {
		root = filepath.Dir(file)
		if _, ok := options["filename"].(string); !ok {
			root, _ = os.Getwd()
		}
	}
	strict := false
	switch v := options["strict"].(type) {
	case bool:
		strict = v
	case string:
		strict = v == "true" || v == "1" || strings.EqualFold(v, "on")
	}
	w := &warnings{}
	l := newLoader(root, w)
	ds, err := l.file(file, body)
	if err != nil {
		return nil, nil, err
	}
	strict = strict || l.strict
	c := &config{main: newServer(nil), l: l, w: w}
	if err := c.read(ds); err != nil {
		return nil, w.list, err
	}
	cfg, err := c.build()
	if err != nil {
		return nil, w.list, err
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, w.list, fmt.Errorf("encoding the Caddy config: %w", err)
	}
	list, untranslated := dedupe(w.list), dedupe(w.untranslate)
	if strict && len(untranslated) > 0 {
		return nil, list, &StrictError{Warnings: untranslated}
	}
	return out, list, nil
}

// dedupe drops repeated warnings (a balancer used by two ProxyPass lines
// is checked twice).
func dedupe(ws []caddyconfig.Warning) []caddyconfig.Warning {
	seen := map[caddyconfig.Warning]bool{}
	var out []caddyconfig.Warning
	for _, w := range ws {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// Interface guard
var _ caddyconfig.Adapter = Adapter{}

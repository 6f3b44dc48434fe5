package apacheconf

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// maxIncludeDepth stops Include loops, as httpd's AP_MAX_INCLUDE_DEPTH does.
const maxIncludeDepth = 128

// staticModules are compiled into Debian's httpd: <IfModule> sees them
// without a LoadModule.
var staticModules = []string{"core", "so", "http", "http_core", "watchdog", "version", "unixd", "log_config", "logio"}

// loader reads the configuration files: it follows Include and
// IncludeOptional (relative to ServerRoot, with globs), keeps track of
// ServerRoot, Define and LoadModule, replaces ${VAR}, and keeps only the
// content of the <IfModule>, <IfDefine>, <IfFile> and <IfVersion> sections
// httpd would apply.
type loader struct {
	serverRoot string
	defines    map[string]string
	modules    map[string]bool // module names and source files (ssl_module, mod_ssl.c)
	anyModule  bool            // a LoadModule was seen: <IfModule> is evaluated, not assumed
	w          *warnings
	strict     bool     // a file holds the strict comment
	open       []string // files being read, for loops
}

func newLoader(serverRoot string, w *warnings) *loader {
	l := &loader{serverRoot: serverRoot, defines: map[string]string{}, modules: map[string]bool{}, w: w}
	for _, m := range staticModules {
		l.addModule(m+"_module", "mod_"+m+".c")
	}
	l.modules["core.c"], l.modules["http_core.c"] = true, true
	return l
}

func (l *loader) addModule(name, source string) {
	l.modules[strings.ToLower(name)] = true
	l.modules[strings.ToLower(source)] = true
}

// file reads and expands one configuration file.
func (l *loader) file(path string, body []byte) ([]*directive, error) {
	if len(l.open) >= maxIncludeDepth || slices.Contains(l.open, path) {
		return nil, fmt.Errorf("%s: included from itself (Include loop: %s)", path, strings.Join(append(l.open, path), " → "))
	}
	if strictComment.Match(body) {
		l.strict = true
	}
	ds, err := parse(path, body)
	if err != nil {
		return nil, err
	}
	l.open = append(l.open, path)
	defer func() { l.open = l.open[:len(l.open)-1] }()
	return l.expand(ds)
}

// expand processes the directives of one block in order: what it returns
// is what httpd would apply, with includes inlined.
func (l *loader) expand(in []*directive) ([]*directive, error) {
	var out []*directive
	for _, d := range in {
		if err := l.substitute(d); err != nil {
			return nil, err
		}
		switch {
		case d.is("ServerRoot"):
			if len(d.args) != 1 {
				return nil, errAt(d, "ServerRoot takes one directory")
			}
			l.serverRoot = filepath.Clean(d.args[0])
			l.w.ignore(d, "used to resolve the relative paths that follow")
		case d.is("Define"):
			if len(d.args) == 0 || len(d.args) > 2 {
				return nil, errAt(d, "Define takes a name and an optional value")
			}
			l.defines[d.args[0]] = strings.Join(d.args[1:], "")
		case d.is("UnDefine"):
			if len(d.args) == 1 {
				delete(l.defines, d.args[0])
			}
		case d.is("LoadModule"):
			if len(d.args) == 2 {
				l.anyModule = true
				l.addModule(d.args[0], strings.TrimSuffix(filepath.Base(d.args[1]), ".so")+".c")
			}
			out = append(out, d) // reported as ignored by the builder
		case d.is("Include"), d.is("IncludeOptional"):
			inc, err := l.include(d)
			if err != nil {
				return nil, err
			}
			out = append(out, inc...)
		case d.section && (d.is("IfModule") || d.is("IfDefine") || d.is("IfFile") || d.is("IfVersion") || d.is("IfDirective") || d.is("IfSection")):
			ok, err := l.condition(d)
			if err != nil {
				return nil, err
			}
			if ok {
				inner, err := l.expand(d.block)
				if err != nil {
					return nil, err
				}
				out = append(out, inner...)
			}
		case d.section:
			inner, err := l.expand(d.block)
			if err != nil {
				return nil, err
			}
			d.block = inner
			out = append(out, d)
		default:
			out = append(out, d)
		}
	}
	return out, nil
}

// condition evaluates an <If…> section of the read-time kind.
func (l *loader) condition(d *directive) (bool, error) {
	if len(d.args) != 1 && !d.is("IfVersion") {
		return false, errAt(d, "<%s> takes one argument", d.name)
	}
	if d.is("IfVersion") {
		l.w.ignore(d, "its content is read as if the version test held (the adapter knows no httpd version)")
		return true, nil
	}
	arg, neg := strings.CutPrefix(d.args[0], "!")
	var ok bool
	switch {
	case d.is("IfModule"):
		// a configuration fragment without LoadModule lines (a site file
		// adapted on its own) is read as if every module were loaded
		ok = !l.anyModule || l.modules[strings.ToLower(arg)]
	case d.is("IfDefine"):
		_, ok = l.defines[arg]
	case d.is("IfFile"):
		_, err := os.Stat(l.path(arg))
		ok = err == nil
	case d.is("IfDirective"), d.is("IfSection"):
		ok = true
	}
	return ok != neg, nil
}

// include reads the files an Include or IncludeOptional names. A glob in
// the last element that matches nothing is fine for both; a missing file
// without wildcard is an error for Include, as in httpd.
func (l *loader) include(d *directive) ([]*directive, error) {
	if len(d.args) != 1 {
		return nil, errAt(d, "%s takes one file, directory or wildcard", d.name)
	}
	optional := d.is("IncludeOptional")
	pattern := l.path(d.args[0])
	var files []string
	if strings.ContainsAny(pattern, "*?[") {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, errAt(d, "%s %s: %v", d.name, d.args[0], err)
		}
		files = m
	} else if fi, err := os.Stat(pattern); err != nil {
		if optional {
			return nil, nil
		}
		return nil, errAt(d, "%s %s: %v (ServerRoot is %s; give the adapter option server_root or a ServerRoot line)", d.name, d.args[0], err, l.serverRoot)
	} else if fi.IsDir() {
		entries, err := os.ReadDir(pattern)
		if err != nil {
			return nil, errAt(d, "%s %s: %v", d.name, d.args[0], err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				files = append(files, filepath.Join(pattern, e.Name()))
			}
		}
	} else {
		files = []string{pattern}
	}
	slices.Sort(files) // httpd reads matches in alphabetical order
	var out []*directive
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.IsDir() {
			continue
		}
		body, err := os.ReadFile(f)
		if err != nil {
			return nil, errAt(d, "%s: %v", d.name, err)
		}
		ds, err := l.file(f, body)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// path resolves a path of the configuration against ServerRoot.
func (l *loader) path(p string) string {
	if filepath.IsAbs(p) || l.serverRoot == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(l.serverRoot, p)
}

var varRE = regexp.MustCompile(`\$\{([A-Za-z0-9_.:-]+)\}`)

// substitute replaces ${VAR} with a Define or an environment variable, as
// httpd does when it reads a line; an undefined one stays as written, and
// the builder warns when a translated directive holds one.
func (l *loader) substitute(d *directive) error {
	for i, a := range d.args {
		if !strings.Contains(a, "${") {
			continue
		}
		d.args[i] = varRE.ReplaceAllStringFunc(a, func(m string) string {
			name := m[2 : len(m)-1]
			if v, ok := l.defines[name]; ok {
				return v
			}
			if v, ok := os.LookupEnv(name); ok {
				return v
			}
			return m
		})
	}
	return nil
}

// errAt is a configuration error at a directive's file and line.
func errAt(d *directive, format string, args ...any) error {
	return &ParseError{File: d.file, Line: d.line, Msg: fmt.Sprintf(format, args...)}
}

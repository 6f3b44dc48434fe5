package caddyajp_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/caddy-ajp/caddy-ajp"

// layers says which project packages each package of the module may import
// (paths relative to the module; "" is the root package). Arrows point down
// only; a package not in the table fails the test, so a new package gets a
// rule on purpose. Anything under tools/ is its own module: nothing here may
// import it.
var layers = map[string]struct {
	imports []string // project packages it may import; "*" for any
	pure    bool     // no Caddy package either
}{
	"":                 {imports: []string{"*"}},                                                                          // caddyajp registers every module
	"apacheconf":       {imports: []string{"ajptransport", "stickyroute", "pathmap", "balancer", "internal/apachewords"}}, // caddy adapt --adapter apache
	"caddyfile":        {imports: []string{"stickyroute", "ajptransport", "pathmap", "balancer", "manager", "internal/tomcatpath", "internal/apachewords"}},
	"manager":          {imports: []string{"balancer", "ajptransport"}}, // admin API, manager page, metrics: reads and steers the state below
	"pathmap":          {imports: []string{"internal/tomcatpath"}},
	"stickyroute":      {imports: []string{"balancer", "internal/tomcatpath"}}, // never ajptransport: the policy works for any transport
	"balancer":         {},                                                     // runtime state of named balancers, kept in Caddy's storage
	"ajptransport":     {imports: []string{"ajptransport/ajp", "internal/tomcatpath"}},
	"ajptransport/ajp": {pure: true}, // the codec
	// test support written from the AJP reference, not from the codec:
	// imported only by the tests of ajptransport and ajptransport/ajp
	"ajptransport/internal/ajpspec": {pure: true},
	"internal/tomcatpath":           {},
	// Apache's words and ajp_balancer's defaults, for caddyfile and apacheconf alike
	"internal/apachewords": {imports: []string{"stickyroute"}},
}

// pkgImports is one package with what it imports; tests are what its test
// files import on top.
type pkgImports struct {
	path           string
	imports, tests []string
}

// checkLayers returns one line per forbidden import.
func checkLayers(pkgs []pkgImports) []string {
	var problems []string
	for _, p := range pkgs {
		rel, ok := relative(p.path)
		if !ok {
			continue
		}
		rule, known := layers[rel]
		if !known {
			problems = append(problems, "package "+p.path+" is not in the layers table of layers_test.go: add it, with the project packages it may import")
			continue
		}
		for _, imp := range append(append([]string(nil), p.imports...), p.tests...) {
			if r, ok := relative(imp); ok && (r == "tools" || strings.HasPrefix(r, "tools/")) {
				problems = append(problems, p.path+" imports "+imp+": tools/ is its own module, above the product")
			}
		}
		for _, imp := range p.imports {
			r, own := relative(imp)
			switch {
			case rule.pure && (own || strings.HasPrefix(imp, "github.com/caddyserver/")):
				problems = append(problems, p.path+" imports "+imp+": it must stay pure (no project or Caddy package)")
			case own && !slices.Contains(rule.imports, "*") && !slices.Contains(rule.imports, r):
				problems = append(problems, p.path+" imports "+imp+": not allowed by the layers table (arrows point down only)")
			}
		}
	}
	return problems
}

// relative gives a project import path relative to the module.
func relative(path string) (string, bool) {
	if path == module {
		return "", true
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	return rel, ok
}

// TestImportsFollowTheLayers lists the module's packages with `go list` and
// fails on any import the layers table does not allow.
func TestImportsFollowTheLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./...").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkgImports
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			t.Fatalf("go list line %q", line)
		}
		pkgs = append(pkgs, pkgImports{path: f[0], imports: strings.Fields(f[1]), tests: strings.Fields(f[2])})
	}
	if len(pkgs) < len(layers)/2 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range checkLayers(pkgs) {
		t.Error(p)
	}
}

// TestCheckLayersRefusesForbiddenImports feeds the checker forbidden edges,
// so that TestImportsFollowTheLayers cannot pass by checking nothing.
func TestCheckLayersRefusesForbiddenImports(t *testing.T) {
	ok := []pkgImports{
		{path: module, imports: []string{module + "/caddyfile", module + "/pathmap"}},
		{path: module + "/caddyfile", imports: []string{module + "/stickyroute", "github.com/caddyserver/caddy/v2"}},
		{path: module + "/ajptransport", imports: []string{module + "/ajptransport/ajp"}},
		{path: module + "/ajptransport/ajp", imports: []string{"encoding/binary"}},
		{path: "github.com/other/module", imports: []string{module + "/caddyfile"}},
	}
	if p := checkLayers(ok); len(p) != 0 {
		t.Fatalf("an allowed graph was refused: %v", p)
	}
	bad := map[string]pkgImports{
		"policy imports the transport":   {path: module + "/stickyroute", imports: []string{module + "/ajptransport"}},
		"upward import":                  {path: module + "/ajptransport", imports: []string{module + "/caddyfile"}},
		"codec imports Caddy":            {path: module + "/ajptransport/ajp", imports: []string{"github.com/caddyserver/caddy/v2"}},
		"codec imports the project":      {path: module + "/ajptransport/ajp", imports: []string{module + "/internal/tomcatpath"}},
		"tomcatpath imports the project": {path: module + "/internal/tomcatpath", imports: []string{module + "/pathmap"}},
		"product imports a harness":      {path: module + "/pathmap", imports: []string{module + "/internal/harness"}},
		"a test imports tools":           {path: module + "/caddyfile", tests: []string{module + "/tools/bench"}},
		"root imports tools":             {path: module, imports: []string{module + "/tools"}},
		"unknown package":                {path: module + "/newthing"},
	}
	for name, p := range bad {
		problems := checkLayers([]pkgImports{p})
		if len(problems) != 1 {
			t.Errorf("%s: got %q, want one problem", name, problems)
		}
	}
	if p := checkLayers([]pkgImports{bad["unknown package"]}); len(p) == 1 && !strings.Contains(p[0], "add it") {
		t.Errorf("an unknown package's message does not say to add it to the table: %s", p[0])
	}
}

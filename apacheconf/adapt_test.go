package apacheconf_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-ajp/caddy-ajp"
)

// `go test ./apacheconf -run Golden -update` rewrites the .golden files
// (and the examples' caddy.json) from what the adapter says now. Read the
// diff before committing it.
var update = flag.Bool("update", false, "rewrite the golden files of the apache adapter")

// goldenSeparator splits a .golden file into the warnings and the JSON.
const goldenSeparator = "----------"

// adapt runs the adapter as `caddy adapt --adapter apache --config path`.
func adapt(t *testing.T, path string, opts map[string]any) ([]byte, []caddyconfig.Warning, error) {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o := map[string]any{"filename": path}
	for k, v := range opts {
		o[k] = v
	}
	return caddyconfig.GetAdapter("apache").Adapt(body, o)
}

// render is the golden form: one warning a line, the separator, the
// indented JSON; the testdata directory's absolute path reads TESTDATA.
func render(t *testing.T, out []byte, ws []caddyconfig.Warning) string {
	t.Helper()
	var b bytes.Buffer
	for _, w := range ws {
		fmt.Fprintf(&b, "%s:%d: %s: %s\n", w.File, w.Line, w.Directive, w.Message)
	}
	b.WriteString(goldenSeparator + "\n")
	if err := json.Indent(&b, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(b.String(), abs, "TESTDATA")
}

// validate loads the JSON into Caddy without starting it: every module
// provisions, the certificates load, the policies accept their routes.
func validate(t *testing.T, out []byte) {
	t.Helper()
	var cfg caddy.Config
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("the output is not a Caddy config: %v", err)
	}
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatalf("Caddy refuses the adapted config: %v", err)
	}
}

// goldenCases are the single files in testdata/adapt and the layouts whose
// main file is apache2.conf.
func goldenCases(t *testing.T) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "adapt", "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	layouts, _ := filepath.Glob(filepath.Join("testdata", "*", "apache2.conf"))
	return append(files, layouts...)
}

// TestAdaptGolden adapts every case, compares warnings and JSON with its
// .golden file, and loads the JSON into Caddy.
func TestAdaptGolden(t *testing.T) {
	cases := goldenCases(t)
	if len(cases) < 5 {
		t.Fatalf("only %d golden cases found", len(cases))
	}
	for _, path := range cases {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "testdata"+string(filepath.Separator)), ".conf")
		t.Run(name, func(t *testing.T) {
			abs, _ := filepath.Abs(path)
			out, ws, err := adapt(t, abs, nil)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			got := render(t, out, ws)
			golden := strings.TrimSuffix(path, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the adapter's output (run with -update and read the diff):\n%s", golden, firstDiff(string(want), got))
			}
			validate(t, out)
		})
	}
}

// firstDiff shows where two texts part.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, w, g)
		}
	}
	return ""
}

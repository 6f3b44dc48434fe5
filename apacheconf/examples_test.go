package apacheconf_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestExamplesAdaptToTheirCaddyJSON re-adapts examples/apache-*/httpd.conf
// and compares with the caddy.json beside it (-update rewrites it), and
// loads it into Caddy.
func TestExamplesAdaptToTheirCaddyJSON(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join("..", "examples", "apache-*"))
	if len(dirs) < 2 {
		t.Fatalf("found %d apache examples", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			// as `caddy adapt` run from the example's directory
			wd, _ := os.Getwd()
			if err := os.Chdir(dir); err != nil {
				t.Fatal(err)
			}
			defer os.Chdir(wd)
			out, ws, err := adapt(t, "httpd.conf", nil)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			for _, w := range ws {
				t.Logf("%s:%d: %s: %s", filepath.Base(w.File), w.Line, w.Directive, w.Message)
			}
			var b bytes.Buffer
			if err := json.Indent(&b, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			b.WriteString("\n")
			if *update {
				if err := os.WriteFile("caddy.json", b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile("caddy.json")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, b.Bytes()) {
				t.Errorf("%s/caddy.json differs from the adapter's output (run with -update):\n%s", dir, firstDiff(string(want), b.String()))
			}
			validate(t, out)
		})
	}
}

package apacheconf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds the httpd syntax reader arbitrary text: it never panics,
// and every error it returns is a ParseError naming the file and a line
// that exists.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "adapt", "*.conf"))
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"<VirtualHost *:80>\n", "</Location>\n", "<Proxy balancer://a>\n</Location>\n", "ServerName \"a\\\"b\" 'c d'\n",
		"ProxyPass \\\n /a \\\n ajp://h:1/a\n", "<If \"%{HTTPS} == 'on'\">\n</If>\n", "\"unterminated\n", "<>\n", "< >\n", "#\\\nx\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ds, err := parse("fuzz.conf", body)
		if err == nil {
			checkTree(t, ds)
			return
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v is not a ParseError", err)
		}
		lines := strings.Count(string(body), "\n") + 1
		if pe.File != "fuzz.conf" || pe.Line < 1 || pe.Line > lines {
			t.Fatalf("error %v names line %d of %d", err, pe.Line, lines)
		}
	})
}

func checkTree(t *testing.T, ds []*directive) {
	for _, d := range ds {
		if d.name == "" || d.line < 1 {
			t.Fatalf("directive without a name or line: %+v", d)
		}
		if !d.section && len(d.block) > 0 {
			t.Fatalf("a plain directive holds a block: %+v", d)
		}
		checkTree(t, d.block)
	}
}

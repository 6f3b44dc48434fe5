package apacheconf_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-ajp/caddy-ajp/apacheconf"
)

func adaptText(t *testing.T, conf string, opts map[string]any) ([]byte, []caddyconfig.Warning, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return adapt(t, path, opts)
}

// handlersOf finds the handler list that holds the reverse_proxy.
func handlersOf(v any) []any {
	switch x := v.(type) {
	case map[string]any:
		if hs, ok := x["handle"].([]any); ok {
			for _, h := range hs {
				if m, ok := h.(map[string]any); ok && m["handler"] == "reverse_proxy" {
					return hs
				}
			}
		}
		for _, k := range []string{"apps", "http", "servers", "routes", "handle"} {
			if r := handlersOf(x[k]); r != nil {
				return r
			}
		}
		for _, val := range x {
			if r := handlersOf(val); r != nil {
				return r
			}
		}
	case []any:
		for _, e := range x {
			if r := handlersOf(e); r != nil {
				return r
			}
		}
	}
	return nil
}

// TestBalancerIsTheSameAsAjpBalancer: the same balancer written as Apache
// config and as an ajp_balancer Caddyfile becomes the same handlers.
func TestBalancerIsTheSameAsAjpBalancer(t *testing.T) {
	for name, c := range map[string]struct{ apache, caddyfile string }{
		"user's story": {
			apache: `<Proxy balancer://app>
	BalancerMember ajp://localhost:8010/share route=tomcat1 secret=s3cret
	BalancerMember ajp://localhost:8011/share route=tomcat2 secret=s3cret
</Proxy>
ProxyPassReverse /share balancer://app
ProxyPass /share balancer://app stickysession=JSESSIONID|jsessionid`,
			caddyfile: `:80 {
	ajp_balancer /share* {
		name app
		member ajp://localhost:8010/share route=tomcat1 secret=s3cret
		member ajp://localhost:8011/share route=tomcat2 secret=s3cret
		stickysession JSESSIONID|jsessionid
	}
}`,
		},
		"every parameter": {
			apache: `<Proxy balancer://c>
	BalancerMember ajp://10.0.0.1:8009/app route=n1 loadfactor=3 status=+H redirect=n2 secret=k ping=2 timeout=30 connectiontimeout=500ms ttl=60 max=5 retry=10 hcinterval=2 hcpasses=2 hcfails=3
	BalancerMember ajp://10.0.0.2:8009/app route=n2 status=+N secret=k ping=2 timeout=30 connectiontimeout=500ms ttl=60 max=5 retry=10 hcinterval=2 hcpasses=2 hcfails=3
</Proxy>
ProxyIOBufferSize 16384
ProxyPass /x balancer://c stickysession=SID|sid stickysessionsep=_ nofailover=On maxattempts=1 failonstatus=500,503 timeout=9
ProxyPassReverse /x balancer://c`,
			caddyfile: `:80 {
	ajp_balancer /x* {
		name c
		member ajp://10.0.0.1:8009/app route=n1 loadfactor=3 status=+H redirect=n2 secret=k ping=2 timeout=30 connectiontimeout=500ms ttl=60 max=5 retry=10 hcinterval=2 hcpasses=2 hcfails=3
		member ajp://10.0.0.2:8009/app route=n2 status=+N secret=k ping=2 timeout=30 connectiontimeout=500ms ttl=60 max=5 retry=10 hcinterval=2 hcpasses=2 hcfails=3
		stickysession SID|sid
		stickysessionsep _
		nofailover on
		maxattempts 1
		failonstatus 500,503
		timeout 9
		packet_size 16384
	}
}`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			out, _, err := adaptText(t, c.apache, nil)
			if err != nil {
				t.Fatal(err)
			}
			cf, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(c.caddyfile), nil)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			_ = json.Unmarshal(out, &a)
			_ = json.Unmarshal(cf, &b)
			ha, hb := handlersOf(a), handlersOf(b)
			if ha == nil || !reflect.DeepEqual(ha, hb) {
				ja, _ := json.MarshalIndent(ha, "", " ")
				jb, _ := json.MarshalIndent(hb, "", " ")
				t.Errorf("apache adapter:\n%s\najp_balancer:\n%s", ja, jb)
			}
		})
	}
}

// TestErrorsNameFileAndLine: syntax errors and refused translations say
// where, in the file they are in (an included one too).
func TestErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "inc.conf"), []byte("# included\n<VirtualHost *:80>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ conf, want string }{
		"unclosed section":       {"Listen 80\n<VirtualHost *:80>\nServerName a\n", "httpd.conf:2: <VirtualHost> is never closed"},
		"wrong closer":           {"<Location /a>\n</Proxy>\n", "httpd.conf:2: </Proxy> closes <Location> opened on line 1"},
		"unterminated quote":     {"\n\nServerName \"abc\n", "httpd.conf:3: unterminated quoted argument"},
		"in an included file":    {"Include " + filepath.Join(dir, "inc.conf") + "\n", "inc.conf:2: <VirtualHost> is never closed"},
		"missing include":        {"\nInclude nothere.conf\n", "httpd.conf:2: Include nothere.conf"},
		"http member":            {"<Proxy balancer://a>\nBalancerMember http://h:80/\n</Proxy>\n", "httpd.conf:2: BalancerMember http://h:80/: only ajp://"},
		"unequal transport":      {"<Proxy balancer://a>\nBalancerMember ajp://h:1 route=a secret=s timeout=5\nBalancerMember ajp://h:2 route=b secret=s timeout=6\n</Proxy>\nProxyPass / balancer://a\n", "httpd.conf:3: timeout=6 here but 5"},
		"routes on some members": {"<Proxy balancer://a>\nBalancerMember ajp://h:1 route=a secret=s\nBalancerMember ajp://h:2 secret=s\n</Proxy>\nProxyPass / balancer://a\n", "httpd.conf:3: member h:2 has no route="},
		"loadfactor 0":           {"<Proxy balancer://a>\nBalancerMember ajp://h:1 route=a loadfactor=0 secret=s\n</Proxy>\nProxyPass / balancer://a\n", "httpd.conf:2: "},
		"weights and bybusyness": {"<Proxy balancer://a>\nBalancerMember ajp://h:1 route=a loadfactor=2 secret=s\nBalancerMember ajp://h:2 route=b secret=s\nProxySet lbmethod=bybusyness\n</Proxy>\nProxyPass / balancer://a\n", "httpd.conf:2: "},
		"bad status":             {"<Proxy balancer://a>\nBalancerMember ajp://h:1 route=a status=+X secret=s\n</Proxy>\nProxyPass / balancer://a\n", "httpd.conf:2: status=+X"},
		"no members":             {"ProxyPass / balancer://none\n", "httpd.conf:1: balancer://none has no BalancerMember"},
		"bad workers.properties": {"JkWorkersFile " + filepath.Join(dir, "inc.conf") + "\n", `inc.conf:2: "<VirtualHost *:80>": want key=value`},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := adaptText(t, c.conf, nil)
			if err == nil {
				t.Fatalf("no error; want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// TestStrictModeRefusesUntranslatedDirectives: the strict option and the
// comment refuse what changes request handling; ignored directives pass.
func TestStrictModeRefusesUntranslatedDirectives(t *testing.T) {
	const base = "ProxyPass /a ajp://127.0.0.1:8009/a secret=s\nLogLevel warn\nLoadModule proxy_module x.so\n"
	if _, ws, err := adaptText(t, base, map[string]any{"strict": true}); err != nil {
		t.Fatalf("strict refuses a config whose warnings are all 'ignored': %v (%v)", err, ws)
	}
	for name, c := range map[string]struct {
		conf string
		opts map[string]any
	}{
		"option":        {base + "RewriteRule ^/x /y\n", map[string]any{"strict": true}},
		"option string": {base + "Header set X y\n", map[string]any{"strict": "true"}},
		"comment":       {"# caddy-ajp: strict\n" + base + "<Directory /srv>\nRequire all denied\n</Directory>\n", nil},
		"no secret":     {"# caddy-ajp: strict\nProxyPass /a ajp://127.0.0.1:8009/a\n", nil},
		"unknown":       {base + "FooBar 1\n", map[string]any{"strict": true}},
	} {
		t.Run(name, func(t *testing.T) {
			_, ws, err := adaptText(t, c.conf, c.opts)
			var se *apacheconf.StrictError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a StrictError", err)
			}
			if len(se.Warnings) == 0 || se.Warnings[0].Line == 0 || !strings.Contains(err.Error(), "httpd.conf:") {
				t.Errorf("the strict error names no place: %v", err)
			}
			if len(ws) == 0 {
				t.Error("no warnings returned with the strict error")
			}
			// without strict the same config adapts, with the same warnings
			delete(c.opts, "strict")
			conf := strings.Replace(c.conf, "# caddy-ajp: strict", "#", 1)
			if _, _, err := adaptText(t, conf, c.opts); err != nil {
				t.Errorf("without strict: %v", err)
			}
		})
	}
}

// TestEveryUntranslatedDirectiveIsAWarning: nothing disappears without a
// warning naming its file and line.
func TestEveryUntranslatedDirectiveIsAWarning(t *testing.T) {
	conf := "Listen 80\nRewriteEngine On\nSetEnv A b\n<If \"%{HTTPS} == 'on'\">\nHeader set X y\n</If>\nAlias /x /srv/x\nErrorDocument 404 /e.html\n" +
		"<VirtualHost *:80>\nServerName a\nRequire all granted\nProxyPass /a http://backend/\nWhatever on\n</VirtualHost>\n"
	_, ws, err := adaptText(t, conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, w := range ws {
		if !strings.HasSuffix(w.File, "httpd.conf") {
			t.Errorf("warning without the file: %+v", w)
		}
		got[w.Line] = w.Directive + ": " + w.Message
	}
	for _, line := range []int{2, 3, 4, 7, 8, 11, 12, 13} {
		if !strings.Contains(got[line], "NOT translated") {
			t.Errorf("line %d: want a NOT translated warning, got %q", line, got[line])
		}
	}
}

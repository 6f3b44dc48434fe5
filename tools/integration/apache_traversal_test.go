package integration

// The traversal battery of TestTraversalNeverReachesAnotherContext, sent to
// Apache httpd (mod_proxy_ajp behind mod_proxy_balancer, ProxyPass /share)
// in front of the same Tomcat. Apache is the yardstick, not the product:
// its answers are only recorded, as a Markdown table next to what
// caddy-ajp is expected to answer.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/tools/apachetest"
)

// mdCell keeps a value inside one Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return "`" + s + "`"
}

func TestApacheTraversalComparison(t *testing.T) {
	// Under -short TestMain starts no Tomcat: tomcat is nil.
	skipIfShort(t)
	apache := apachetest.StartT(t, apachetest.Options{
		Mode:    apachetest.ModeProxyAJP,
		Path:    "/share",
		Members: []apachetest.Member{{Addr: tomcat.AJPAddr(), Route: "tomcat-it"}},
		Secret:  secret,
	})
	addr := "127.0.0.1:" + strconv.Itoa(apache.Port())
	get := func(target string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n"
	}

	// The comparison means something only if Apache reaches Tomcat.
	resp, body, err := rawExchangeAt(addr, get("/share/echo.jsp"), 15*time.Second)
	if err != nil {
		t.Fatalf("GET /share/echo.jsp through Apache: %v", err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET /share/echo.jsp through Apache: status %d, want 200: %s", resp.StatusCode, headLine(body))
	}

	var tbl strings.Builder
	tbl.WriteString("| target | Apache status | Apache reached /private? | caddy-ajp expected status |\n")
	tbl.WriteString("|---|---|---|---|\n")
	for _, row := range traversalRows() {
		status, reached := "", "no"
		resp, body, err := rawExchangeAt(addr, get(row.target), 15*time.Second)
		if err != nil {
			status = "error: " + err.Error()
		} else {
			status = strconv.Itoa(resp.StatusCode)
			if strings.Contains(string(body), "PRIVATE") {
				reached = "**YES**"
			}
			t.Logf("%-44s -> Apache %d %s", row.target, resp.StatusCode, headLine(body))
		}
		fmt.Fprintf(&tbl, "| %s | %s | %s | %d (%s) |\n", mdCell(row.target), status, reached, row.status, row.by)
	}
	t.Logf("Apache mod_proxy_ajp vs caddy-ajp on the traversal battery:\n%s", tbl.String())
	if path := os.Getenv("APACHE_TRAVERSAL_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(tbl.String()), 0o644); err != nil {
			t.Errorf("writing APACHE_TRAVERSAL_TABLE: %v", err)
		}
	}
}

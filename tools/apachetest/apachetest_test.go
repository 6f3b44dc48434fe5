package apachetest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-ajp/caddy-ajp/tools/apachetest"
	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

const secret = "apachetest-s3cret"

func TestBothModesServeTheShareAppFromTomcat(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Tomcat and Apache: runs without -short")
	}
	node := tomcattest.StartT(t, tomcattest.Options{
		Name: "apachetest", AJPPort: tomcattest.FreePort(t), Secret: secret, JvmRoute: "tomcat1",
	})
	for _, mode := range []string{apachetest.ModeProxyAJP, apachetest.ModeJK} {
		t.Run(mode, func(t *testing.T) {
			s := apachetest.StartT(t, apachetest.Options{
				Mode:    mode,
				Members: []apachetest.Member{{Addr: node.AJPAddr(), Route: "tomcat1"}},
				Secret:  secret,
			})
			if s.PID() == 0 {
				t.Fatal("no PID")
			}
			resp, err := http.Get(s.URL() + "/share/echo.jsp?x=1")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET /share/echo.jsp through %s: %d\n%s\n%s", mode, resp.StatusCode, body, s.ErrorLog())
			}
			var e struct {
				RequestURI string `json:"requestURI"`
				Node       string `json:"node"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("echo.jsp: %v: %s", err, body)
			}
			if e.RequestURI != "/share/echo.jsp" || e.Node != "apachetest" {
				t.Errorf("servlet saw %+v", e)
			}
			// Only Path is mapped.
			resp, err = http.Get(s.URL() + "/private/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == 200 {
				t.Errorf("/private/ reachable through %s", mode)
			}
			pid := s.PID()
			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}
			if _, err := http.Get(s.URL() + "/"); err == nil || !strings.Contains(err.Error(), "refused") {
				t.Errorf("Apache %d still answers after Stop: %v", pid, err)
			}
		})
	}
}

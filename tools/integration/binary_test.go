package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-ajp/caddy-ajp/tools/harness"
)

// caddyBinary is the xcaddy-built Caddy that `make test` passes in: the
// binary users build. Without it the test fails; it never skips.
func caddyBinary(t *testing.T) string {
	t.Helper()
	skipIfShort(t)
	bin := os.Getenv("CADDY_BINARY")
	if bin == "" {
		t.Fatal("CADDY_BINARY is not set: run `make test`, which builds bin/caddy with xcaddy (`make build`) and passes it in")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("CADDY_BINARY: %v", err)
	}
	return bin
}

// startBinary runs `caddy run` with the Caddyfile and returns its working
// directory; the process is stopped by its PID at the end of the test.
func startBinary(t *testing.T, caddyfile string) (dir string) {
	t.Helper()
	dir, _ = startBinaryProc(t, caddyfile)
	return dir
}

// startBinaryProc is startBinary that also returns a way to stop the
// process before the end of the test (SIGTERM, then SIGKILL after 10 s).
func startBinaryProc(t *testing.T, caddyfile string) (dir string, stop func()) {
	t.Helper()
	bin := caddyBinary(t)
	dir = t.TempDir()
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "AJP_SECRET="+secret)
	logf, err := os.Create(filepath.Join(dir, "caddy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("caddy log:\n%s", b)
			}
		})
	}
	t.Cleanup(stop)
	return dir, stop
}

func waitHTTP(t *testing.T, url string) *http.Response {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestXcaddyBinaryServesTomcatOverAJP(t *testing.T) {
	caddyBinary(t)
	admin, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	site, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	default_bind 127.0.0.1
}
http://127.0.0.1:%d {
	reverse_proxy %s {
		transport ajp {
			secret {env.AJP_SECRET}
		}
	}
}
`, admin, site, tomcat.AJPAddr())
	startBinary(t, cfg)
	resp := waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/share/echo.jsp?from=binary", site))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"queryString":"from=binary"`) {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}

	// A reload through the admin API with a changed config takes effect:
	// the same backend through the ajp_balancer directive.
	newCfg := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	default_bind 127.0.0.1
}
http://127.0.0.1:%d {
	header X-Reloaded yes
	ajp_balancer /share* {
		member ajp://%s/share route=tomcat-it
		secret {env.AJP_SECRET}
	}
}
`, admin, site, tomcat.AJPAddr())
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/load", admin), strings.NewReader(newCfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	lr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	lb, _ := io.ReadAll(lr.Body)
	lr.Body.Close()
	if lr.StatusCode != 200 {
		t.Fatalf("reload: %d %s", lr.StatusCode, lb)
	}
	resp = waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/share/tiny.jsp", site))
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Reloaded") != "yes" {
		t.Fatalf("after reload: status %d, X-Reloaded %q", resp.StatusCode, resp.Header.Get("X-Reloaded"))
	}
}

func TestXcaddyBinaryRejectsBadCaddyfileNamingTheLine(t *testing.T) {
	bin := caddyBinary(t)
	dir := t.TempDir()
	cf := filepath.Join(dir, "Caddyfile")
	bad := "http://127.0.0.1:1 {\n\treverse_proxy 127.0.0.1:8010 {\n\t\ttransport ajp {\n\t\t\tsecret x\n\t\t\tpacket_size 4096\n\t\t}\n\t}\n}\n"
	if err := os.WriteFile(cf, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "adapt", "--config", cf, "--adapter", "caddyfile").CombinedOutput()
	if err == nil {
		t.Fatalf("caddy adapt accepted packet_size 4096:\n%s", out)
	}
	if !strings.Contains(string(out), "Caddyfile:5") || !strings.Contains(string(out), "packet_size") {
		t.Errorf("error does not name the file, line 5 and the option:\n%s", out)
	}
}

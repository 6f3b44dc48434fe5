package main

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

// machineInfo is the machine and software the numbers come from.
type machineInfo struct {
	Date                 time.Time
	CPU, RAM, Kernel, OS string
	Cores                int
	Go, Caddy, CaddyGo   string
	Checkout             string
	Apache, ModJK        string
	Tomcat, Java, Wrk    string
	H2load, OpenSSL      string
	LoadStart, LoadEnd   string
	Elapsed              time.Duration
}

func collectMachine(ctx context.Context, cfg config) machineInfo {
	m := machineInfo{Date: time.Now(), Cores: runtime.NumCPU(), Go: runtime.Version(), LoadStart: loadAvg()}
	m.CPU = firstValue("/proc/cpuinfo", "model name")
	if fam, model := firstValue("/proc/cpuinfo", "cpu family"), firstValue("/proc/cpuinfo", "model"); fam != "" {
		m.CPU += " (family " + fam + ", model " + model + ")"
	}
	if strings.Contains(" "+firstValue("/proc/cpuinfo", "flags")+" ", " hypervisor ") {
		m.CPU += ", virtual machine"
	}
	if kb := statusKB("/proc/meminfo", "MemTotal"); kb > 0 {
		m.RAM = strconv.FormatFloat(float64(kb)/(1<<30), 'f', 1, 64) + " GiB"
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.OS = strings.Trim(firstValue("/etc/os-release", "PRETTY_NAME"), `"`)
	if out := command(ctx, cfg.caddy, "version"); out != "" {
		m.Caddy, _, _ = strings.Cut(out, " ")
	}
	if bi, err := buildinfo.ReadFile(cfg.caddy); err == nil {
		m.CaddyGo = bi.GoVersion + ", " + pgoSetting(bi)
	}
	m.Checkout = command(ctx, "git", "describe", "--always", "--dirty")
	if out := command(ctx, "apache2", "-v"); out != "" {
		m.Apache = strings.TrimPrefix(firstLine(out), "Server version: ")
	}
	m.ModJK = command(ctx, "dpkg-query", "-W", "-f", "${Version}", "libapache2-mod-jk")
	if home, err := tomcattest.CatalinaHome(); err == nil {
		out := command(ctx, "java", "-cp", filepath.Join(home, "lib", "catalina.jar"), "org.apache.catalina.util.ServerInfo")
		for _, line := range strings.Split(out, "\n") {
			k, v, _ := strings.Cut(line, ":")
			switch strings.TrimSpace(k) {
			case "Server version":
				m.Tomcat = strings.TrimSpace(v)
			case "JVM Version":
				m.Java = "Java " + strings.TrimSpace(v)
			}
		}
	}
	// wrk -v prints its version and usage, and exits 1.
	if out := command(ctx, "wrk", "-v"); out != "" {
		line := firstLine(out)
		if i := strings.Index(line, " Copyright"); i > 0 {
			line = line[:i]
		}
		m.Wrk = line
	}
	m.H2load = firstLine(command(ctx, "h2load", "--version"))
	m.OpenSSL = firstLine(command(ctx, "openssl", "version"))
	return m
}

// command runs name and returns its trimmed output (stdout and stderr),
// whatever its exit status.
func command(ctx context.Context, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// firstValue is the value of the first "key: value" or "key=value" line.
func firstValue(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.Contains(k, "=") {
			k, v, ok = strings.Cut(sc.Text(), "=")
		}
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// pgoSetting says which profile a binary was built with (go build -pgo).
func pgoSetting(bi *buildinfo.BuildInfo) string {
	for _, s := range bi.Settings {
		if s.Key == "-pgo" && s.Value != "" {
			return "PGO profile " + filepath.Base(s.Value)
		}
	}
	return "without PGO"
}

// binaryDesc names a Caddy binary for the report: its path (relative to the
// working directory when under it), Go version and profile.
func binaryDesc(path string) string {
	name := path
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
			name = rel
		}
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "binary `" + name + "`"
	}
	return fmt.Sprintf("binary `%s` (%s, %s)", name, bi.GoVersion, pgoSetting(bi))
}

package main

import (
	"fmt"
	"strings"
)

// tomcatSetting is one Tomcat setting measured apart from the main run,
// with `-tomcat-jvm` / `-tomcat-max-threads`, against the bench's settings.
type tomcatSetting struct {
	Setting string // what changed, from the bench's settings
	Effect  string // what it did, in words
	Tiny    string // caddy-ajp's tiny req/s: bench's → changed
	H2      string // caddy-ajp's h2-tiny req/s: bench's → changed
}

// tomcatSettings are smoke runs (1 round of 5 s, shared machine), so only
// large effects count; see renderTomcatSettings.
var tomcatSettings = []tomcatSetting{}

// renderTomcatSettings is the table of Tomcat settings that move the result.
func renderTomcatSettings() string {
	if len(tomcatSettings) == 0 {
		return ""
	}
	var w strings.Builder
	w.WriteString("### Tomcat settings that move the result\n\n")
	w.WriteString("Smoke runs, not the main run: one round of 5 s per front end, `BENCH_SCENARIOS=tiny,h2-tiny`, caddy-ajp and apache-proxy_ajp, on the shared 2-core machine; each changes one setting from the bench's ")
	w.WriteString("(`-XX:+UseParallelGC -XX:TieredStopAtLevel=4 -Xms512m -Xmx512m`, `maxThreads=\"500\"`), with `-tomcat-jvm` or `-tomcat-max-threads`. Differences under ~15% are noise here.\n\n")
	w.WriteString("| setting | caddy-ajp tiny req/s | caddy-ajp h2-tiny req/s | effect |\n|---|--:|--:|---|\n")
	for _, s := range tomcatSettings {
		fmt.Fprintf(&w, "| %s | %s | %s | %s |\n", s.Setting, s.Tiny, s.H2, s.Effect)
	}
	w.WriteString("\n")
	return w.String()
}

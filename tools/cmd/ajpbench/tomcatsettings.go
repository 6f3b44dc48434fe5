package main

import (
	"fmt"
	"strings"
)

// tomcatSetting is one Tomcat setting measured apart from the main run,
// with `-tomcat-jvm` / `-tomcat-max-threads`, against the bench's settings.
type tomcatSetting struct {
	Setting string // what changed, from the bench's settings
	Tiny    string // req/s of tiny: caddy-ajp / apache-proxy_ajp
	H2      string // req/s of h2-tiny: caddy-ajp / apache-proxy_ajp
	Effect  string // what it did, in words
}

// tomcatSettings are smoke runs (1 round of 5 s, shared machine), so only
// large effects count; see renderTomcatSettings.
var tomcatSettings = []tomcatSetting{
	{"none (the bench's settings), two runs", "4281 / 5902; 4165 / 4546", "4048 / 3262; 3875 / 4020",
		"the noise: the same settings moved Apache's tiny rate by 23% and its h2-tiny rate by 23% between two runs"},
	{"`-XX:+UseG1GC` (the JVM's default collector) instead of ParallelGC", "3991 / 5099", "4468 / 4761",
		"within the noise; Tomcat's CPU per request on the tiny page +15–20% behind both proxies"},
	{"`-XX:TieredStopAtLevel=1` (C1 only, the tests' setting)", "4401 / 5428", "3249 / 3670",
		"within the noise on the tiny page; h2-tiny lowest of the five runs behind both proxies (−15%); it starts faster and peaks lower"},
	{"`maxThreads=\"200\"` (Tomcat's default) instead of 500", "5416 / 5036", "4275 / 3883",
		"caddy-ajp +28% on the tiny page, Apache not: the largest change, in a single run; fewer threads cannot hold c1000's 500 requests per node at once (they queue in the connector)"},
	{"`maxThreads=\"200\"`, **measured in full**: 3 rounds, `BENCH_TOMCAT_MAXTHREADS=200 BENCH_SCENARIOS=tiny,tls-tiny,h2-tiny BENCH_FRONTENDS=apache-proxy_ajp,apache-proxy_ajp-debian,caddy-ajp`, 2026-12-01, on a quiet machine",
		"9506 / 14199 (0.67×)", "7265 / 7510 (0.97×)",
		"the smoke run's +28% did not hold: against the full run at 500 threads (0.77× tiny, 0.76× h2-tiny, 0.90× tls-tiny; tls-tiny here 9759 / 14147, 0.69×) the ratios move both ways, within the run-to-run noise. Both proxies ran faster in this run than in the full one, so only same-run ratios compare"},
}

// renderTomcatSettings is the table of Tomcat settings that move the result.
func renderTomcatSettings() string {
	if len(tomcatSettings) == 0 {
		return ""
	}
	var w strings.Builder
	w.WriteString("### Tomcat settings that move the result\n\n")
	w.WriteString("**Smoke runs, not part of this run** (2026-12-01, one round of 5 s after a 1 s warm-up, `BENCH_SCENARIOS=tiny,h2-tiny BENCH_FRONTENDS=apache-proxy_ajp,caddy-ajp`, on the shared 2-core machine at a load average of 12–19, when one tiny request cost ~3× the CPU of the main run's): ")
	w.WriteString("each changes one setting from the bench's (`-Xms512m -Xmx512m -XX:TieredStopAtLevel=4 -XX:+UseParallelGC`, `maxThreads=\"500\"` on both connectors) with `-tomcat-jvm` or `-tomcat-max-threads`. ")
	w.WriteString("Two runs with the bench's settings differed by up to 23%: only a larger change would mean anything, and none of the three is clearly one. `maxThreads`, the largest, was then measured in full (last row): the verdict does not turn on it.\n\n")
	w.WriteString("| Tomcat setting | tiny req/s, caddy-ajp / Apache | h2-tiny req/s, caddy-ajp / Apache | effect |\n|---|--:|--:|---|\n")
	for _, s := range tomcatSettings {
		fmt.Fprintf(&w, "| %s | %s | %s | %s |\n", s.Setting, s.Tiny, s.H2, s.Effect)
	}
	w.WriteString("\n")
	return w.String()
}

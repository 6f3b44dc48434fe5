package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSelectScenariosTakesNamesAndGroupsInReportOrder(t *testing.T) {
	for _, c := range []struct {
		list string
		want []string
	}{
		{"h2-mix,tiny", []string{"tiny", "h2-mix"}},
		{"tls", []string{"tls-tiny", "tls-1MiB", "tls-post64k"}},
		{"plain, h2-tiny", []string{"tiny", "1MiB", "post64k", "c1000", "h2-tiny"}},
		{"all", slices.DeleteFunc(scenarioNames(), func(n string) bool { return n == "tiny-3k" })},
		{"tiny-3k,plain", []string{"tiny", "1MiB", "post64k", "c1000", "tiny-3k"}}, // an extra only by name
	} {
		got, err := selectScenarios(c.list)
		if err != nil {
			t.Fatalf("%q: %v", c.list, err)
		}
		var names []string
		for _, sc := range got {
			names = append(names, sc.Name)
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("%q: %v, want %v", c.list, names, c.want)
		}
	}
	if _, err := selectScenarios("tiny,h3-tiny"); err == nil || !strings.Contains(err.Error(), "h3-tiny") {
		t.Errorf("unknown scenario: %v", err)
	}
}

func TestTomcatDirectSkipsTheTLSScenarios(t *testing.T) {
	scs, _ := selectScenarios("tiny,tls-tiny,h2-mix")
	if n := runCount(scs, []string{caddyAJP, tomcatDirect}); n != 4 {
		t.Errorf("runs per round: %d, want 4 (tomcat-direct only in tiny)", n)
	}
	fe := &frontend{Name: tomcatDirect, URL: "http://127.0.0.1:1"}
	if fe.serves(scs[1]) || !fe.serves(scs[0]) {
		t.Error("tomcat-direct, which has no TLS listener, is given a TLS scenario or denied a plain one")
	}
	fe.TLSURL = "https://127.0.0.1:2"
	if fe.urlFor(scs[2]) != fe.TLSURL || fe.urlFor(scs[0]) != fe.URL {
		t.Error("urlFor picks the wrong listener")
	}
}

// The full run (all scenarios and front ends, 3 rounds of 10 s) must stay
// within the ~35 minutes issue 16 allows on the 2-core machine.
func TestTheDefaultRunFitsInThirtyFiveMinutes(t *testing.T) {
	cfg, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.rounds != 3 || cfg.duration != 10*time.Second || len(cfg.scenarios) != len(allScenarios)-1 {
		t.Fatalf("defaults changed: %d rounds of %s, %d scenarios", cfg.rounds, cfg.duration, len(cfg.scenarios))
	}
	if d := estimate(cfg); d > 35*time.Minute {
		t.Errorf("the default run takes about %s", d.Round(time.Minute))
	}
	if !strings.Contains(renderPlan(cfg), "h2-mix") {
		t.Errorf("plan:\n%s", renderPlan(cfg))
	}
}

func TestStaticResourcesAreDeterministic(t *testing.T) {
	files := staticFiles()
	if len(files) != 20 || files[0].Size != 1024 || files[19].Size != 102400 {
		t.Fatalf("%d files from %d to %d bytes", len(files), files[0].Size, files[len(files)-1].Size)
	}
	kinds := map[string]int{}
	for _, f := range files {
		kinds[filepath.Ext(f.Name)]++
	}
	if kinds[".css"] != 5 || kinds[".js"] != 10 || kinds[".png"] != 5 {
		t.Errorf("kinds %v", kinds)
	}
	a, b := t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if err := writeStaticWebapp(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		x, err1 := os.ReadFile(filepath.Join(a, f.Name))
		y, err2 := os.ReadFile(filepath.Join(b, f.Name))
		if err1 != nil || err2 != nil || string(x) != string(y) {
			t.Fatalf("%s differs between two writes (%v, %v)", f.Name, err1, err2)
		}
		if len(x) < f.Size*8/10 || len(x) > f.Size*12/10 {
			t.Errorf("%s: %d bytes, want about %d", f.Name, len(x), f.Size)
		}
		if st, _ := os.Stat(filepath.Join(a, f.Name)); !st.ModTime().Equal(staticMTime) {
			t.Errorf("%s: mtime %v", f.Name, st.ModTime())
		}
	}
}

func TestMixResultBecomesATableRow(t *testing.T) {
	r := mixToWrk(mixResult{Requests: 22000, Seconds: 10, P50: 1500, P99: 42000, TransportEr: 2, StatusEr: 1})
	if r.RPS != 2200 || r.P50 != 1500*time.Microsecond || r.P99 != 42*time.Millisecond || r.Errors() != 3 {
		t.Errorf("%+v", r)
	}
}

func TestCaddyBAddsTheFrontEndCaddyAJPBBesideCaddyAJP(t *testing.T) {
	cfg, err := parseConfig([]string{"-frontends", "tomcat-direct,caddy-ajp,apache-mod_jk", "-caddy-b", "bin/caddy-nopgo", "-scenarios", "tiny,tls-tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{apacheJK, caddyAJP, caddyAJPB, tomcatDirect}; !slices.Equal(cfg.frontends, want) {
		t.Errorf("front ends %v, want %v", cfg.frontends, want)
	}
	if n := runCount(cfg.scenarios, cfg.frontends); n != 7 {
		t.Errorf("runs per round: %d, want 7", n)
	}
	if plan := renderPlan(cfg); !strings.Contains(plan, "caddy-ajp-b runs bin/caddy-nopgo") {
		t.Errorf("the plan does not name caddy-ajp-b's binary:\n%s", plan)
	}
	// Named as well: the same, once.
	cfg, err = parseConfig([]string{"-frontends", "caddy-ajp,caddy-ajp-b", "-caddy-b", "x"})
	if err != nil || !slices.Equal(cfg.frontends, []string{caddyAJP, caddyAJPB}) {
		t.Errorf("%v, %v", cfg.frontends, err)
	}
}

func TestCaddyAJPBWantsABinaryAndIsNotInTheDefaultRun(t *testing.T) {
	if _, err := parseConfig([]string{"-frontends", "caddy-ajp,caddy-ajp-b"}); err == nil || !strings.Contains(err.Error(), "-caddy-b") {
		t.Errorf("caddy-ajp-b without -caddy-b: %v", err)
	}
	cfg, err := parseConfig(nil)
	if err != nil || slices.Contains(cfg.frontends, caddyAJPB) {
		t.Errorf("default front ends %v, %v", cfg.frontends, err)
	}
}

func TestProfileWantsCaddyAJPAndEndsBeforeTheLoad(t *testing.T) {
	if _, err := parseConfig([]string{"-frontends", "caddy-http", "-profile", "x.pgo"}); err == nil {
		t.Error("-profile without caddy-ajp accepted")
	}
	cfg, err := parseConfig([]string{"-frontends", "caddy-ajp", "-profile", "pgo/caddy.pgo"})
	if err != nil {
		t.Fatal(err)
	}
	if plan := renderPlan(cfg); !strings.Contains(plan, "merged into pgo/caddy.pgo") {
		t.Errorf("the plan does not say where the profile goes:\n%s", plan)
	}
	for d, want := range map[time.Duration]int{10 * time.Second: 9, 6 * time.Second: 5, time.Second: 1, 1500 * time.Millisecond: 1} {
		if got := profileSeconds(d); got != want {
			t.Errorf("profile of a %s run: %d s, want %d", d, got, want)
		}
		if got := time.Duration(profileSeconds(d))*time.Second + profileLead; d >= 2*time.Second && got > d-profileLead {
			t.Errorf("a %s run's profile ends %s after its start, less than %s before its end", d, got, profileLead)
		}
	}
}

func TestOnlyTheProfiledCaddyHasAnAdminEndpoint(t *testing.T) {
	with := caddySites(1, 2, "127.0.0.1:3", benchCert{CertFile: "c", KeyFile: "k"}, "")
	without := caddySites(1, 2, "", benchCert{CertFile: "c", KeyFile: "k"}, "")
	if !strings.Contains(with, "\tadmin 127.0.0.1:3\n") || !strings.Contains(without, "\tadmin off\n") {
		t.Errorf("with an address:\n%s\nwithout:\n%s", with, without)
	}
}

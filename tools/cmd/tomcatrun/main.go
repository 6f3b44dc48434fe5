// Command tomcatrun starts the test cluster (two nodes, AJP and HTTP
// connectors on free 127.0.0.1 ports) and keeps it running until Ctrl-C:
// for profiling and for trying things by hand.
package main

import (
	"context"
	"fmt"
	"log"
	"maps"
	"os"
	"os/signal"
	"syscall"

	"github.com/caddy-ajp/caddy-ajp/tools/apachetest"
	"github.com/caddy-ajp/caddy-ajp/tools/harness"
	"github.com/caddy-ajp/caddy-ajp/tools/tomcattest"
)

func main() {
	secret := os.Getenv("AJP_SECRET")
	if secret == "" {
		secret = "tomcatrun-secret"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The nodes run as in make bench; TOMCATRUN_AJP_THREADS overrides the
	// AJP connector's maxThreads.
	ajpAttrs := maps.Clone(tomcattest.BenchAJPConnectorAttrs)
	if v := os.Getenv("TOMCATRUN_AJP_THREADS"); v != "" {
		ajpAttrs["maxThreads"] = v
	}
	var opts []tomcattest.Options
	for _, name := range []string{"tomcat1", "tomcat2"} {
		p1, p2 := free(), free()
		opts = append(opts, tomcattest.Options{
			Name: name, AJPPort: p1, HTTPPort: p2, Secret: secret,
			ExtraJVMArgs:       tomcattest.BenchJVMArgs,
			AJPConnectorAttrs:  ajpAttrs,
			HTTPConnectorAttrs: tomcattest.BenchHTTPConnectorAttrs,
		})
	}
	nodes, err := tomcattest.StartCluster(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	var members []apachetest.Member
	for _, n := range nodes {
		fmt.Printf("%s ajp=%s http=%d pid=%d\n", n.Name(), n.AJPAddr(), n.HTTPPort(), n.PID())
		members = append(members, apachetest.Member{Addr: n.AJPAddr(), Route: n.Name()})
	}
	// TOMCATRUN_APACHE=proxy_ajp or jk also starts Apache httpd in front
	// of the nodes, for side-by-side profiling; TOMCATRUN_APACHE_CONF names a
	// file appended to its httpd.conf (e.g. the MPM lines of BENCHMARKS.md).
	if mode := os.Getenv("TOMCATRUN_APACHE"); mode != "" {
		var extra []byte
		if f := os.Getenv("TOMCATRUN_APACHE_CONF"); f != "" {
			if extra, err = os.ReadFile(f); err != nil {
				log.Fatal(err)
			}
		}
		a, err := apachetest.Start(ctx, apachetest.Options{Mode: mode, Members: members, Secret: secret, ExtraConfig: string(extra)})
		if err != nil {
			log.Print(err)
		} else {
			fmt.Printf("apache %s %s pid=%d\n", mode, a.URL(), a.PID())
			defer a.Stop()
		}
	}
	<-ctx.Done()
	for _, n := range nodes {
		_ = n.Stop()
	}
}

func free() int {
	p, err := harness.FreePort()
	if err != nil {
		log.Fatal(err)
	}
	return p
}

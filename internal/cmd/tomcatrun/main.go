// Command tomcatrun starts the test cluster (two nodes, AJP and HTTP
// connectors on free 127.0.0.1 ports) and keeps it running until Ctrl-C:
// for profiling and for trying things by hand.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/caddy-ajp/caddy-ajp/internal/tomcattest"
)

func main() {
	secret := os.Getenv("AJP_SECRET")
	if secret == "" {
		secret = "tomcatrun-secret"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var opts []tomcattest.Options
	for _, name := range []string{"tomcat1", "tomcat2"} {
		p1, p2 := free(), free()
		opts = append(opts, tomcattest.Options{
			Name: name, AJPPort: p1, HTTPPort: p2, Secret: secret,
			ExtraJVMArgs:      []string{"-Xmx512m", "-XX:TieredStopAtLevel=4"},
			AJPConnectorAttrs: map[string]string{"maxThreads": "500", "maxConnections": "10000"},
		})
	}
	nodes, err := tomcattest.StartCluster(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range nodes {
		fmt.Printf("%s ajp=%s http=%d pid=%d\n", n.Name(), n.AJPAddr(), n.HTTPPort(), n.PID())
	}
	<-ctx.Done()
	for _, n := range nodes {
		_ = n.Stop()
	}
}

func free() int {
	p, err := tomcattest.FreePortErr()
	if err != nil {
		log.Fatal(err)
	}
	return p
}

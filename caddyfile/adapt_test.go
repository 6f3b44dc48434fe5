package caddyfile_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-ajp/caddy-ajp"
)

// `go test ./caddyfile -run Adapt -update` rewrites the JSON halves of the
// golden files (and the examples' caddy.json) from what the adapter says
// now. Read the diff before committing it: a golden file that encodes a bug
// is worse than none.
func init() {
	// another test file of the package may have defined it already
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden JSON of the adapt tests")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// goldenSeparator splits a .caddyfiletest into its Caddyfile and JSON, as in
// Caddy's caddytest/integration/caddyfile_adapt.
const goldenSeparator = "----------"

// adaptJSON adapts a Caddyfile as `caddy adapt --pretty` does, indented with
// tabs like caddytest.CompareAdapt.
func adaptJSON(t *testing.T, caddyfile string) string {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	for _, w := range warnings {
		t.Errorf("warning: line %d: %s: %s", w.Line, w.Directive, w.Message)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestAdaptGolden adapts every testdata/adapt/*.caddyfiletest and compares
// the result with the JSON half of the file.
func TestAdaptGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "adapt", "*.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files in testdata/adapt")
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(strings.TrimSuffix(name, ".caddyfiletest"), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.SplitN(string(data), goldenSeparator, 2)
			if len(parts) != 2 {
				t.Fatalf("%s has no %s line between the Caddyfile and the JSON", path, goldenSeparator)
			}
			// a trailing newline, as Caddy's own golden test gives the formatter
			caddyfile, expected := strings.TrimSpace(parts[0])+"\n", strings.TrimSpace(parts[1])
			if updating() {
				got := adaptJSON(t, caddyfile)
				if err := os.WriteFile(path, []byte(caddyfile+goldenSeparator+"\n"+got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !caddytest.CompareAdapt(t, name, caddyfile, "caddyfile", expected) {
				t.Errorf("%s: the adapted JSON differs from the golden file (diff above; `go test ./caddyfile -run Adapt -update` rewrites it)", path)
			}
		})
	}
}

// TestAdaptExamples adapts every examples/*/Caddyfile and compares it with
// the caddy.json next to it: the examples' JSON is what `caddy adapt` says.
func TestAdaptExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "examples", "*", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples/*/Caddyfile")
	}
	for _, path := range files {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			caddyfile, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			jsonPath := filepath.Join(dir, "caddy.json")
			if updating() {
				got := adaptJSON(t, string(caddyfile))
				if err := os.WriteFile(jsonPath, []byte(got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			expected, err := os.ReadFile(jsonPath)
			if err != nil {
				t.Fatalf("%v (`go test ./caddyfile -run Adapt -update` writes it)", err)
			}
			if !caddytest.CompareAdapt(t, path, string(caddyfile), "caddyfile", strings.TrimSpace(string(expected))) {
				t.Errorf("%s is not what %s adapts to (diff above)", jsonPath, path)
			}
		})
	}
}

// serverXML is the part of a Tomcat server.xml the example's Caddyfile must
// agree with.
type serverXML struct {
	Port     string `xml:"port,attr"`
	Services []struct {
		Connectors []struct {
			Protocol   string `xml:"protocol,attr"`
			Address    string `xml:"address,attr"`
			Port       int    `xml:"port,attr"`
			Secret     string `xml:"secret,attr"`
			PacketSize int    `xml:"packetSize,attr"`
		} `xml:"Connector"`
		Engine struct {
			JvmRoute string `xml:"jvmRoute,attr"`
			Cluster  *struct {
				ClassName string `xml:"className,attr"`
				Manager   struct {
					ClassName            string `xml:"className,attr"`
					StateTransferTimeout int    `xml:"stateTransferTimeout,attr"`
				} `xml:"Manager"`
				Channel struct {
					HeartbeatSleeptime int `xml:"heartbeatSleeptime,attr"`
					Membership         struct {
						ClassName   string `xml:"className,attr"`
						LocalMember struct {
							UniqueID string `xml:"uniqueId,attr"`
						} `xml:"LocalMember"`
						Members []struct {
							Host     string `xml:"host,attr"`
							Port     int    `xml:"port,attr"`
							UniqueID string `xml:"uniqueId,attr"`
						} `xml:"Member"`
					} `xml:"Membership"`
					Receiver struct {
						Address string `xml:"address,attr"`
						Port    int    `xml:"port,attr"`
					} `xml:"Receiver"`
					Interceptors []struct {
						ClassName  string `xml:"className,attr"`
						StaticOnly string `xml:"staticOnly,attr"`
					} `xml:"Interceptor"`
				} `xml:"Channel"`
				Valves []struct {
					ClassName string `xml:"className,attr"`
				} `xml:"Valve"`
				Listeners []struct {
					ClassName string `xml:"className,attr"`
				} `xml:"ClusterListener"`
			} `xml:"Cluster"`
		} `xml:"Engine"`
	} `xml:"Service"`
}

// ajpConnector is the one AJP connector of the node.
func (s *serverXML) ajpConnector(t *testing.T) (address string, port int, secret string, packetSize int) {
	t.Helper()
	var found []string
	for _, svc := range s.Services {
		for _, c := range svc.Connectors {
			if c.Protocol == "AJP/1.3" {
				found = append(found, strconv.Itoa(c.Port))
				address, port, secret, packetSize = c.Address, c.Port, c.Secret, c.PacketSize
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one AJP/1.3 connector, found %d", len(found))
	}
	return
}

// exampleMember is one `member` line of the example's Caddyfile.
type exampleMember struct {
	host  string
	port  int
	path  string
	route string
}

var memberLine = regexp.MustCompile(`(?m)^\s*member\s+ajp://([^:/\s]+):(\d+)(/\S*)?((?:\s+\S+=\S+)*)\s*$`)

func exampleMembers(t *testing.T, caddyfile string) []exampleMember {
	t.Helper()
	var ms []exampleMember
	for _, m := range memberLine.FindAllStringSubmatch(caddyfile, -1) {
		port, _ := strconv.Atoi(m[2])
		em := exampleMember{host: m[1], port: port, path: m[3]}
		for _, kv := range strings.Fields(m[4]) {
			if k, v, _ := strings.Cut(kv, "="); k == "route" {
				em.route = v
			}
		}
		ms = append(ms, em)
	}
	return ms
}

// TestExampleShareClusterServerXML checks that the example's two Tomcat
// configurations are well-formed XML, set up the replication the README
// promises (with the loopback pitfalls handled), and name the ports and
// routes the example's Caddyfile sends to.
func TestExampleShareClusterServerXML(t *testing.T) {
	dir := filepath.Join("..", "examples", "share-cluster")
	caddyfile, err := os.ReadFile(filepath.Join(dir, "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	members := exampleMembers(t, string(caddyfile))
	if len(members) != 2 {
		t.Fatalf("the example Caddyfile has %d member lines, want 2", len(members))
	}
	packetSize := 8192 // the transport's default
	if m := regexp.MustCompile(`(?m)^\s*packet_size\s+(\d+)\s*$`).FindStringSubmatch(string(caddyfile)); m != nil {
		packetSize, _ = strconv.Atoi(m[1])
	}

	nodes := make([]serverXML, len(members))
	receivers := map[int]int{} // receiver port → node index
	uniqueIDs := map[string]int{}
	for i, m := range members {
		path := filepath.Join(dir, m.route, "server.xml")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("member route=%s: %v (the example keeps one directory per route)", m.route, err)
		}
		// well-formed: the whole document decodes, token by token
		dec := xml.NewDecoder(bytes.NewReader(data))
		for {
			_, err := dec.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("%s is not well-formed XML: %v", path, err)
				}
				break
			}
		}
		s := &nodes[i]
		if err := xml.Unmarshal(data, s); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(s.Services) != 1 {
			t.Fatalf("%s: want one Service, got %d", path, len(s.Services))
		}
		addr, port, secret, ps := s.ajpConnector(t)
		if addr != "127.0.0.1" {
			t.Errorf("%s: AJP connector address %q, want 127.0.0.1 (never expose AJP)", path, addr)
		}
		if port != m.port {
			t.Errorf("%s: AJP connector port %d, the Caddyfile's member route=%s sends to port %d", path, port, m.route, m.port)
		}
		if m.host != "localhost" && m.host != "127.0.0.1" {
			t.Errorf("member %s:%d: the example's nodes listen on 127.0.0.1", m.host, m.port)
		}
		if secret == "" {
			t.Errorf("%s: the AJP connector has no secret", path)
		}
		if ps == 0 {
			ps = 8192
		}
		if ps != packetSize {
			t.Errorf("%s: packetSize %d, the Caddyfile's packet_size is %d: they must be equal", path, ps, packetSize)
		}
		if got := s.Services[0].Engine.JvmRoute; got != m.route {
			t.Errorf("%s: jvmRoute %q, the Caddyfile's member on port %d has route=%s", path, got, m.port, m.route)
		}
		if s.Port != "-1" {
			t.Errorf("%s: shutdown port %s, want -1 (disabled)", path, s.Port)
		}

		c := s.Services[0].Engine.Cluster
		if c == nil {
			t.Fatalf("%s: no Cluster: sessions would not replicate", path)
		}
		checkClass := func(what, got, want string) {
			t.Helper()
			if got != want {
				t.Errorf("%s: %s className %q, want %q", path, what, got, want)
			}
		}
		checkClass("Cluster", c.ClassName, "org.apache.catalina.ha.tcp.SimpleTcpCluster")
		checkClass("Manager", c.Manager.ClassName, "org.apache.catalina.ha.session.DeltaManager")
		checkClass("Membership", c.Channel.Membership.ClassName, "org.apache.catalina.tribes.membership.StaticMembershipService")
		if st := c.Manager.StateTransferTimeout; st == 0 || st > 30 {
			t.Errorf("%s: stateTransferTimeout %d: set it low (10) or a starting node waits 60 s", path, st)
		}
		if hb := c.Channel.HeartbeatSleeptime; hb == 0 || hb > 1000 {
			t.Errorf("%s: heartbeatSleeptime %d: 1000 re-admits a restarted peer within a second", path, hb)
		}
		if c.Channel.Receiver.Address != "127.0.0.1" {
			t.Errorf("%s: replication receiver address %q, want 127.0.0.1", path, c.Channel.Receiver.Address)
		}
		if prev, dup := receivers[c.Channel.Receiver.Port]; dup || c.Channel.Receiver.Port == 0 {
			t.Errorf("%s: receiver port %d is missing or used by %s too", path, c.Channel.Receiver.Port, members[prev].route)
		}
		receivers[c.Channel.Receiver.Port] = i
		if id := c.Channel.Membership.LocalMember.UniqueID; len(strings.Split(strings.Trim(id, "{}"), ",")) != 16 {
			t.Errorf("%s: LocalMember uniqueId %q is not 16 bytes", path, id)
		} else {
			uniqueIDs[id] = i
		}
		var interceptors []string
		for _, ic := range c.Channel.Interceptors {
			interceptors = append(interceptors, ic.ClassName)
			if strings.HasSuffix(ic.ClassName, ".TcpPingInterceptor") && ic.StaticOnly != "true" {
				t.Errorf("%s: TcpPingInterceptor needs staticOnly=\"true\" with static membership", path)
			}
		}
		for _, want := range []string{"TcpPingInterceptor", "TcpFailureDetector", "MessageDispatchInterceptor"} {
			if !slices.ContainsFunc(interceptors, func(c string) bool { return strings.HasSuffix(c, "."+want) }) {
				t.Errorf("%s: no %s interceptor", path, want)
			}
		}
		var valves []string
		for _, v := range c.Valves {
			valves = append(valves, v.ClassName)
		}
		for _, want := range []string{"org.apache.catalina.ha.tcp.ReplicationValve", "org.apache.catalina.ha.session.JvmRouteBinderValve"} {
			if !slices.Contains(valves, want) {
				t.Errorf("%s: no %s", path, want)
			}
		}
		if len(c.Listeners) != 1 || c.Listeners[0].ClassName != "org.apache.catalina.ha.session.ClusterSessionListener" {
			t.Errorf("%s: want the ClusterSessionListener", path)
		}
	}
	if len(uniqueIDs) != len(members) {
		t.Errorf("the nodes' LocalMember uniqueIds are not distinct")
	}
	// each node lists the other as its static peer, by receiver port and uniqueId
	for i, s := range nodes {
		ms := s.Services[0].Engine.Cluster.Channel.Membership.Members
		if len(ms) != len(nodes)-1 {
			t.Errorf("%s: %d static Members, want %d (every other node)", members[i].route, len(ms), len(nodes)-1)
			continue
		}
		for _, p := range ms {
			j, ok := receivers[p.Port]
			if !ok || j == i {
				t.Errorf("%s: static Member port %d is not another node's receiver", members[i].route, p.Port)
				continue
			}
			if p.Host != "127.0.0.1" {
				t.Errorf("%s: static Member host %q, want 127.0.0.1", members[i].route, p.Host)
			}
			if want := nodes[j].Services[0].Engine.Cluster.Channel.Membership.LocalMember.UniqueID; p.UniqueID != want {
				t.Errorf("%s: static Member for %s has uniqueId %s, but %s's LocalMember is %s", members[i].route, members[j].route, p.UniqueID, members[j].route, want)
			}
		}
	}
	// the secret the nodes share is the one the Caddyfile takes from the environment
	var secrets []string
	for _, s := range nodes {
		_, _, secret, _ := s.ajpConnector(t)
		secrets = append(secrets, secret)
	}
	if len(secrets) == 2 && secrets[0] != secrets[1] {
		t.Errorf("the nodes have different AJP secrets (%q, %q); the Caddyfile has one", secrets[0], secrets[1])
	}
	if !strings.Contains(string(caddyfile), "{env.AJP_SECRET}") {
		t.Errorf("the example Caddyfile should take the secret from {env.AJP_SECRET}")
	}
}

// reverseProxyOf adapts a Caddyfile with one ajp_balancer and returns its
// reverse_proxy handler as generic JSON.
func reverseProxyOf(t *testing.T, caddyfile string) map[string]any {
	t.Helper()
	var cfg any
	if err := json.Unmarshal([]byte(adaptJSON(t, caddyfile)), &cfg); err != nil {
		t.Fatal(err)
	}
	var found map[string]any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "reverse_proxy" {
				found = v
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(cfg)
	if found == nil {
		t.Fatal("no reverse_proxy handler in the adapted JSON")
	}
	return found
}

// lookup follows keys through nested JSON objects; nil when one is missing.
func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// TestAdaptApacheZeroIsKept: Apache gives a meaning to zero for maxattempts
// (no failover attempt) and for a member's retry (a member in error is tried
// again at once, no wait); the directive must not replace an explicit 0 with
// its defaults.
func TestAdaptApacheZeroIsKept(t *testing.T) {
	t.Run("maxattempts 0", func(t *testing.T) {
		rp := reverseProxyOf(t, ":8080 {\n\tajp_balancer {\n\t\tmember ajp://127.0.0.1:8010 route=tomcat1\n\t\tmember ajp://127.0.0.1:8011 route=tomcat2\n\t\tmaxattempts 0\n\t\tsecret s3cret\n\t}\n}\n")
		// try_duration retries too, for as long as it lasts
		for _, k := range []string{"retries", "try_duration"} {
			if got := lookup(rp, "load_balancing", k); got != nil {
				t.Errorf("maxattempts 0 adapted to load_balancing.%s %v; want no failover attempt", k, got)
			}
		}
	})
	t.Run("retry=0", func(t *testing.T) {
		rp := reverseProxyOf(t, ":8080 {\n\tajp_balancer {\n\t\tmember ajp://127.0.0.1:8010 route=tomcat1 retry=0\n\t\tmember ajp://127.0.0.1:8011 route=tomcat2 retry=0\n\t\tsecret s3cret\n\t}\n}\n")
		if got := lookup(rp, "health_checks", "passive", "fail_duration"); got != nil {
			t.Errorf("retry=0 adapted to passive fail_duration %v; want none (a failed member is not kept out)", got)
		}
	})
}

// TestAdaptLoadfactorWithoutRoute: a loadfactor on members without route=
// must weigh new requests, or be refused; never silently dropped.
func TestAdaptLoadfactorWithoutRoute(t *testing.T) {
	const caddyfile = ":8080 {\n\tajp_balancer {\n\t\tmember ajp://127.0.0.1:8010 loadfactor=1\n\t\tmember ajp://127.0.0.1:8011 loadfactor=3\n\t\tsecret s3cret\n\t}\n}\n"
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		if !strings.Contains(err.Error(), "loadfactor") || !strings.Contains(err.Error(), "Caddyfile:") {
			t.Errorf("refused, but the error does not name loadfactor and the line: %v", err)
		}
		return
	}
	if !strings.Contains(string(out), `"weight":3`) {
		t.Errorf("loadfactor=3 on a member without route= was dropped: no weight in\n%s", out)
	}
}

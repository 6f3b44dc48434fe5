package tomcattest

import (
	"embed"
	"fmt"
	"io"
	"strings"
)

// Options describe one Tomcat node.
type Options struct {
	// Name names the node: the CATALINA_BASE directory, log messages and the
	// JVM system property tomcattest.node that session.jsp and echo.jsp print.
	// Default: "tomcat".
	Name string

	// BaseDir is the CATALINA_BASE to create. Default: a new temporary
	// directory, removed by Stop unless Keep is set (or TOMCATTEST_KEEP=1).
	BaseDir string

	// Keep leaves a temporary BaseDir in place after Stop, for post-mortems.
	Keep bool

	// AJPPort is the port of the AJP/1.3 connector on 127.0.0.1. Required.
	AJPPort int

	// HTTPPort is the port of an HTTP/1.1 connector on 127.0.0.1.
	// Default: 0, no HTTP connector.
	HTTPPort int

	// Secret is the AJP connector's secret. It is written to server.xml only,
	// never to the command line (Tomcat logs every -D argument).
	// Default: "", which sets secretRequired="false".
	Secret string

	// PacketSize is the AJP connector's packetSize, 8192–65536.
	// Default: 0, Tomcat's 8192.
	PacketSize int

	// JvmRoute is the Engine's jvmRoute, appended to session ids.
	// Default: "" (none); StartCluster defaults it to Name.
	JvmRoute string

	// Cluster enables session replication (SimpleTcpCluster, DeltaManager,
	// static membership). Default: nil, no clustering. StartCluster fills it in.
	Cluster *Cluster

	// Webapps are the contexts to deploy. Default: ShareWebapp() at /share.
	Webapps []Webapp

	// AllowedRequestAttributesPattern sets the AJP connector attribute of that
	// name: a regular expression of extra AJP request attributes Tomcat accepts.
	AllowedRequestAttributesPattern string

	// AJPConnectorAttrs and HTTPConnectorAttrs add or override attributes of
	// the connectors (e.g. "maxThreads", "tomcatAuthentication",
	// "keepAliveTimeout").
	AJPConnectorAttrs  map[string]string
	HTTPConnectorAttrs map[string]string

	// AccessLog adds an AccessLogValve writing CATALINA_BASE/logs/access.*.txt,
	// skipping requests that set the attribute "tomcattest.nolog" (tiny.jsp).
	// Default: false, no access log.
	AccessLog bool

	// ExtraJVMArgs come after the default JVM arguments, so they override them
	// (e.g. "-Xmx1g"). A garbage collector choice (-XX:+Use…GC) replaces the
	// default -XX:+UseSerialGC.
	ExtraJVMArgs []string

	// Stdout, if set, receives a copy of Tomcat's console output.
	Stdout io.Writer

	// JavaHome selects the JVM. Default: $JAVA_HOME, else java on $PATH.
	JavaHome string
}

// Webapp is a context to deploy.
type Webapp struct {
	// Path is the context path, e.g. "/share". "" is the ROOT context.
	Path string
	// Dir is the application directory used as docBase.
	Dir string
	// Embedded names one of this package's applications ("share", "private"),
	// copied into CATALINA_BASE when Dir is empty.
	Embedded string
}

// Cluster configures session replication for one node.
type Cluster struct {
	// ReceiverPort is the port of the replication receiver (NioReceiver) on
	// 127.0.0.1. Required; StartCluster picks a free one when 0.
	ReceiverPort int
	// UniqueID identifies this node in the static membership.
	// StartCluster derives one when it is all zero.
	UniqueID [16]byte
	// Peers are the other members. StartCluster fills them in.
	Peers []ClusterMember
	// StateTransferTimeout is how long, in seconds, a starting DeltaManager
	// waits for the sessions of its peers. Default: 10.
	StateTransferTimeout int
	// HeartbeatSleeptime is the channel heartbeat in milliseconds; it bounds
	// how fast a restarted peer is admitted again. Default: 1000.
	HeartbeatSleeptime int
	// ChannelSendOptions are SimpleTcpCluster's channelSendOptions.
	// Default: 6 (synchronous, acknowledged): a response is sent only after
	// its session change reached the peers, so a test may kill the node
	// right after it.
	ChannelSendOptions int
}

// ClusterMember is a peer in a static cluster membership.
type ClusterMember struct {
	Host     string // "127.0.0.1" when empty
	Port     int    // the peer's ReceiverPort
	UniqueID [16]byte
}

// ShareWebapp is the "share" test application at /share (see webapps/share).
func ShareWebapp() Webapp { return Webapp{Path: "/share", Embedded: "share"} }

// PrivateWebapp is the "private" application at /private: nothing in it may
// be reachable through a proxy that maps only /share.
func PrivateWebapp() Webapp { return Webapp{Path: "/private", Embedded: "private"} }

//go:embed webapps
var embeddedWebapps embed.FS

func (o *Options) setDefaults() error {
	if o.Name == "" {
		o.Name = "tomcat"
	}
	if strings.ContainsAny(o.Name, `/\`) || o.Name == "." || o.Name == ".." {
		return fmt.Errorf("invalid node name %q", o.Name)
	}
	if o.AJPPort <= 0 || o.AJPPort > 65535 {
		return fmt.Errorf("node %s: AJPPort is required", o.Name)
	}
	if o.HTTPPort < 0 || o.HTTPPort > 65535 {
		return fmt.Errorf("node %s: invalid HTTPPort %d", o.Name, o.HTTPPort)
	}
	if o.PacketSize != 0 && (o.PacketSize < 8192 || o.PacketSize > 65536) {
		return fmt.Errorf("node %s: PacketSize %d is outside 8192–65536", o.Name, o.PacketSize)
	}
	if o.Webapps == nil {
		o.Webapps = []Webapp{ShareWebapp()}
	}
	for _, w := range o.Webapps {
		if w.Path != "" && (!strings.HasPrefix(w.Path, "/") || strings.HasSuffix(w.Path, "/")) {
			return fmt.Errorf("node %s: webapp path %q must start and not end with /", o.Name, w.Path)
		}
		if w.Dir == "" {
			if _, err := embeddedWebapps.ReadDir("webapps/" + w.Embedded); w.Embedded == "" || err != nil {
				return fmt.Errorf("node %s: webapp %q has neither Dir nor a known Embedded name", o.Name, w.Path)
			}
		}
	}
	if c := o.Cluster; c != nil {
		if c.ReceiverPort <= 0 || c.ReceiverPort > 65535 {
			return fmt.Errorf("node %s: Cluster.ReceiverPort is required", o.Name)
		}
		if c.StateTransferTimeout == 0 {
			c.StateTransferTimeout = 10
		}
		if c.HeartbeatSleeptime == 0 {
			c.HeartbeatSleeptime = 1000
		}
		if c.ChannelSendOptions == 0 {
			c.ChannelSendOptions = 6
		}
	}
	return nil
}

// BenchJVMArgs are Tomcat's settings for a benchmark (make bench, and
// tomcatrun for profiling) rather than a fast test start: a fixed 512 MiB
// heap, the full tiered JIT (the test default -XX:TieredStopAtLevel=1 is
// overridden: the JVM takes the last value) and the throughput collector.
var BenchJVMArgs = []string{"-Xms512m", "-Xmx512m", "-XX:TieredStopAtLevel=4", "-XX:+UseParallelGC"}

// BenchAJPConnectorAttrs and BenchHTTPConnectorAttrs are the benchmark's
// connector attributes, for 1000 concurrent keep-alive connections: with NIO
// an idle keep-alive connection holds no thread, but each node gets enough
// threads for half of 1000 requests in flight, room for the connections
// (maxConnections) and a backlog for 1000 connections opened at once. The
// HTTP connector keeps connections open for any number of requests
// (Tomcat's default closes them after 100).
var (
	BenchAJPConnectorAttrs  = map[string]string{"maxThreads": "500", "maxConnections": "10000", "acceptCount": "1024"}
	BenchHTTPConnectorAttrs = map[string]string{"maxThreads": "500", "maxConnections": "10000", "acceptCount": "1024", "maxKeepAliveRequests": "-1"}
)

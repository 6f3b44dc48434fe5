// Package tomcattest starts and stops real Tomcat 10.1 nodes (Debian's
// tomcat10 package, Java 17) for integration tests, the demo and benchmarks.
//
// Each node gets its own CATALINA_BASE with a generated server.xml: an AJP
// connector (and optionally an HTTP connector) on 127.0.0.1, no shutdown
// port (nodes are stopped by PID), no automatic deployment, and explicit
// contexts for the test applications embedded from webapps/ ("share" at
// /share, "private" at /private). StartCluster adds session replication
// (SimpleTcpCluster, DeltaManager, static membership on loopback).
//
// Nothing here skips when Tomcat is missing: Start returns an error and
// StartT fails the test.
//
// Pitfalls of Tomcat on loopback that this package works around:
//   - an open AJP port is not a ready Tomcat (connectors bind seconds before
//     the webapps are deployed): a node is ready after "Server startup in";
//   - cluster nodes started together block each other's session state
//     transfer: StartCluster starts them one after the other;
//   - multicast membership does not work on loopback: static membership,
//     and a 1 s channel heartbeat (Tomcat: 5 s) so a restarted node is
//     re-admitted quickly;
//   - Tomcat logs every -D JVM argument: the AJP secret goes into the
//     generated server.xml, never onto the command line;
//   - a SIGKILLed node is a zombie until reaped: Stop waits for the process.
package tomcattest

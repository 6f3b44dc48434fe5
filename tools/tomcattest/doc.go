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
// StartT fails the test. See /work/shared/AJP.md for the pitfalls this
// package works around.
package tomcattest

// Package stickyroute will hold the sticky_route selection policy, which
// routes a request to the Tomcat node named by the jvmRoute suffix of its
// session id.
package stickyroute

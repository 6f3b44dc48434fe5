// Package caddyajp registers every module of caddy-ajp: import it (or build
// with `xcaddy build --with github.com/caddy-ajp/caddy-ajp`) to get the AJP
// transport, the sticky_route selection policy and the ajp_balancer
// directive.
package caddyajp

import (
	_ "github.com/caddy-ajp/caddy-ajp/ajptransport"
	_ "github.com/caddy-ajp/caddy-ajp/caddyfile"
	_ "github.com/caddy-ajp/caddy-ajp/stickyroute"
)

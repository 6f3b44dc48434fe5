// Package caddyajp registers every module of caddy-ajp: import it (or build
// with `xcaddy build --with github.com/caddy-ajp/caddy-ajp`) to get the AJP
// transport, the sticky_route selection policy, the ajp_path_map handler,
// the ajp_balancer and ajp_manager directives, the balancer-manager page
// and the admin API for balancers (/ajp/balancers).
package caddyajp

import (
	_ "github.com/caddy-ajp/caddy-ajp/ajptransport"
	_ "github.com/caddy-ajp/caddy-ajp/apacheconf"
	_ "github.com/caddy-ajp/caddy-ajp/caddyfile"
	_ "github.com/caddy-ajp/caddy-ajp/manager"
	_ "github.com/caddy-ajp/caddy-ajp/pathmap"
	_ "github.com/caddy-ajp/caddy-ajp/stickyroute"
)

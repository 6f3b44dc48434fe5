// Package caddyfile holds caddy-ajp's Caddyfile directives. ajp_balancer
// says in a few lines what Apache says with <Proxy balancer://…>,
// BalancerMember, ProxyPass and ProxyPassReverse, and expands into the
// modules of the other packages: an ajp_path_map handler (pathmap) in front
// of a reverse_proxy with the AJP transport (ajptransport) and the
// sticky_route policy (stickyroute), with CPING health checks (health.go)
// and, for members with http=, a WebSocket proxy to their HTTP connectors
// (upgrade.go). ajp_manager mounts the balancer-manager page (manager).
//
// The package is named caddyfile because it is the product's Caddyfile
// adapter layer, and that is where users and the README look for it
// (github.com/caddy-ajp/caddy-ajp/caddyfile). The name shadows Caddy's own
// caddyconfig/caddyfile package, so every file here imports Caddy's as cf:
//
//	cf "github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
//
// The words are parsed into a plain balancerConfig (parse.go), and the
// handlers are built from it (build.go). Parsing checks syntax only: the
// values are checked by the modules' own CheckConfig, as they are for
// JSON, and a refusal is given the file and line of the word that set the
// value. Only the rules that exist in the directive alone (members agree
// on one transport, one path, routes on all members or none, …) are
// checked here.
package caddyfile

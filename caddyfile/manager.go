package caddyfile

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-ajp/caddy-ajp/manager"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("ajp_manager", parseAJPManager)
	// works without a global `order` option: a page like Caddy's own
	// metrics, ahead of the proxies, so that a catch-all ajp_balancer or
	// reverse_proxy in the same site does not swallow its path
	httpcaddyfile.RegisterDirectiveOrder("ajp_manager", httpcaddyfile.After, "metrics")
}

// parseAJPManager sets up the ajp_manager directive, the balancer-manager
// page. Syntax:
//
//	ajp_manager [<matcher>] [read_only]
//
// Mount it behind authentication, for example:
//
//	route /balancer-manager* {
//	    basic_auth {
//	        admin <hash>
//	    }
//	    ajp_manager
//	}
func parseAJPManager(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	h.Next() // the directive's name
	p := new(manager.Page)
	for h.NextArg() {
		switch h.Val() {
		case "read_only":
			if p.ReadOnly {
				return nil, h.Errf("read_only given twice")
			}
			p.ReadOnly = true
		default:
			return nil, h.Errf("unknown argument %q: ajp_manager [<matcher>] [read_only]", h.Val())
		}
	}
	if h.NextBlock(0) {
		return nil, h.Errf("ajp_manager takes no block: ajp_manager [<matcher>] [read_only]")
	}
	return p, nil
}

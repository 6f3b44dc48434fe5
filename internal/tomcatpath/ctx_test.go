package tomcatpath

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2"
)

func caddyhttpContext(r *http.Request, repl *caddy.Replacer) context.Context {
	return context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
}

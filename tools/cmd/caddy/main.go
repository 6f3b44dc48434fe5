// Command caddy is Caddy with every caddy-ajp module, for development
// (`go -C tools run ./cmd/caddy adapt …`); users build theirs with xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddy-ajp/caddy-ajp"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}

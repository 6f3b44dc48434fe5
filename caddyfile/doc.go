// Package caddyfile will hold the ajp_balancer Caddyfile directive.
package caddyfile

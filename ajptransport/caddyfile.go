package ajptransport

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// UnmarshalCaddyfile sets up the transport from Caddyfile tokens. Syntax:
//
//	transport ajp {
//	    secret <secret>
//	    packet_size <bytes>
//	    dial_timeout <duration>
//	    read_timeout <duration>
//	    idle_timeout <duration>
//	    ping_timeout <duration>
//	    ping_after <duration>
//	    max_conns_per_host <n>
//	    request_attribute <name> <value>
//	    insecure_no_secret
//	}
//
// It reads the syntax only (argument counts, numbers, durations); the
// values are checked by CheckConfig, as they are for JSON, and a refusal
// names the line that set the value.
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume transport name
	start := d.Line()
	if d.NextArg() {
		return d.ArgErr()
	}
	lines := map[string]int{} // where each option was set, by its JSON name
	var attrLines []int
	for d.NextBlock(0) {
		opt := d.Val()
		lines[opt] = d.Line()
		switch opt {
		case "secret":
			if !d.NextArg() {
				return d.ArgErr()
			}
			t.Secret = d.Val()
		case "insecure_no_secret":
			t.InsecureNoSecret = true
		case "packet_size", "max_conns_per_host":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil {
				return d.Errf("%s: bad number %q", opt, d.Val())
			}
			if opt == "packet_size" {
				t.PacketSize = n
			} else {
				t.MaxConnsPerHost = n
			}
		case "dial_timeout", "read_timeout", "idle_timeout", "ping_timeout", "ping_after":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("%s: bad duration %q: %v", opt, d.Val(), err)
			}
			for _, o := range t.durationOptions() {
				if o.name == opt {
					*o.v = caddy.Duration(dur)
				}
			}
		case "request_attribute":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("request_attribute needs a name and a value")
			}
			t.RequestAttributes = append(t.RequestAttributes, RequestAttribute{Name: args[0], Value: args[1]})
			attrLines = append(attrLines, d.Line())
			continue
		default:
			return d.Errf("unrecognized ajp transport option %q", opt)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	if err := t.CheckConfig(); err != nil {
		line := start
		var ce *ConfigError
		if errors.As(err, &ce) {
			if ce.Option == "request_attributes" {
				line = attrLines[ce.Index]
			} else if l, ok := lines[ce.Option]; ok {
				line = l
			}
		}
		return fmt.Errorf("%w, at %s:%d", err, d.File(), line)
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Transport)(nil)

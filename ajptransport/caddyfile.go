package ajptransport

import (
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
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume transport name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		switch opt {
		case "secret":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if t.InsecureNoSecret {
				return d.Errf("secret and insecure_no_secret exclude each other")
			}
			t.Secret = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "insecure_no_secret":
			if d.NextArg() {
				return d.ArgErr()
			}
			if t.Secret != "" {
				return d.Errf("secret and insecure_no_secret exclude each other")
			}
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
				if n < MinPacketSize || n > MaxPacketSize {
					return d.Errf("packet_size %d out of range %d–%d (it must equal packetSize of Tomcat's AJP connector)", n, MinPacketSize, MaxPacketSize)
				}
				t.PacketSize = n
			} else {
				if n < 0 {
					return d.Errf("max_conns_per_host must not be negative")
				}
				t.MaxConnsPerHost = n
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "dial_timeout", "read_timeout", "idle_timeout", "ping_timeout", "ping_after":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("%s: bad duration %q: %v", opt, d.Val(), err)
			}
			if dur <= 0 {
				return d.Errf("%s must be positive", opt)
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			v := caddy.Duration(dur)
			switch opt {
			case "dial_timeout":
				t.DialTimeout = v
			case "read_timeout":
				t.ReadTimeout = v
			case "idle_timeout":
				t.IdleTimeout = v
			case "ping_timeout":
				t.PingTimeout = v
			case "ping_after":
				t.PingAfter = v
			}
		case "request_attribute":
			args := d.RemainingArgs()
			if len(args) != 2 {
				return d.Errf("request_attribute needs a name and a value")
			}
			if err := checkAttributeName(args[0]); err != nil {
				return d.Err(err.Error())
			}
			t.RequestAttributes = append(t.RequestAttributes, RequestAttribute{Name: args[0], Value: args[1]})
		default:
			return d.Errf("unrecognized ajp transport option %q", opt)
		}
	}
	if t.Secret == "" && !t.InsecureNoSecret {
		return d.Errf("the ajp transport needs `secret` (the secret of Tomcat's AJP connector), or `insecure_no_secret` for a connector with secretRequired=\"false\"")
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Transport)(nil)

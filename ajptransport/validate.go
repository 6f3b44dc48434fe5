package ajptransport

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// ConfigError is a configuration value the transport refuses. Option is the
// JSON name of the option at fault (empty for none in particular) and Index,
// for request_attributes, which one: a Caddyfile parser uses them to point
// at the line that set the value.
type ConfigError struct {
	Option string
	Index  int
	Msg    string
}

func (e *ConfigError) Error() string { return e.Msg }

func refuseConfig(option string, index int, format string, args ...any) error {
	return &ConfigError{Option: option, Index: index, Msg: fmt.Sprintf(format, args...)}
}

// durationOption is one of the transport's durations, by its JSON name.
type durationOption struct {
	name string
	v    *caddy.Duration
	def  time.Duration
}

func (t *Transport) durationOptions() []durationOption {
	return []durationOption{
		{"dial_timeout", &t.DialTimeout, DefaultDialTimeout},
		{"read_timeout", &t.ReadTimeout, DefaultReadTimeout},
		{"idle_timeout", &t.IdleTimeout, DefaultIdleTimeout},
		{"ping_timeout", &t.PingTimeout, DefaultPingTimeout},
		{"ping_after", &t.PingAfter, DefaultPingAfter},
	}
}

// CheckConfig reports the first value of the configuration that the
// transport refuses, as a *ConfigError. It is the one place the
// transport's rules live: Provision calls it before setting defaults, and
// the Caddyfile parsers (`transport ajp`, `ajp_balancer`) call it on what
// they parsed, so that JSON and Caddyfile accept exactly the same values.
// A zero value means the default everywhere, since JSON cannot tell 0 from
// absent. Placeholders in the secret are not resolved here (Provision does
// that).
//
// It is not named Validate: Caddy would call a caddy.Validator after
// Provision, on the defaulted values.
func (t *Transport) CheckConfig() error {
	if t.PacketSize != 0 && (t.PacketSize < MinPacketSize || t.PacketSize > MaxPacketSize) {
		return refuseConfig("packet_size", 0, "packet_size %d out of range %d–%d (it must equal packetSize of Tomcat's AJP connector)",
			t.PacketSize, MinPacketSize, MaxPacketSize)
	}
	if t.MaxConnsPerHost < 0 {
		return refuseConfig("max_conns_per_host", 0, "max_conns_per_host %d must not be negative (0 is no limit)", t.MaxConnsPerHost)
	}
	for _, d := range t.durationOptions() {
		if *d.v < 0 {
			return refuseConfig(d.name, 0, "%s %s must not be negative (0 is the default, %s)", d.name, time.Duration(*d.v), d.def)
		}
	}
	for i, a := range t.RequestAttributes {
		if err := checkAttributeName(a.Name); err != nil {
			return refuseConfig("request_attributes", i, "%v", err)
		}
	}
	// the secret last: a block that lacks one reports its bad values first
	switch {
	case t.Secret == "" && !t.InsecureNoSecret:
		return refuseConfig("secret", 0, "no AJP secret: set `secret` to the secret of Tomcat's AJP connector (Tomcat 10.1 requires one), "+
			"or `insecure_no_secret` for a connector with secretRequired=\"false\"")
	case t.Secret != "" && t.InsecureNoSecret:
		return refuseConfig("insecure_no_secret", 0, "secret and insecure_no_secret exclude each other")
	}
	return nil
}

// reservedAttributePrefixes are request attributes a servlet container
// treats as proof of an internal include or forward; forwarding them is
// what Ghostcat (CVE-2020-1938) exploited.
var reservedAttributePrefixes = []string{
	"javax.servlet.include.", "javax.servlet.forward.", "javax.servlet.error.", "javax.servlet.async.",
	"jakarta.servlet.include.", "jakarta.servlet.forward.", "jakarta.servlet.error.", "jakarta.servlet.async.",
}

func checkAttributeName(name string) error {
	if name == "" {
		return fmt.Errorf("request_attribute needs a name")
	}
	lower := strings.ToLower(name)
	for _, p := range reservedAttributePrefixes {
		if strings.HasPrefix(lower, p) {
			return fmt.Errorf("request_attribute %q refused: servlet include/forward/error attributes let whoever sets them read or run any file of the webapp (Ghostcat, CVE-2020-1938)", name)
		}
	}
	return nil
}

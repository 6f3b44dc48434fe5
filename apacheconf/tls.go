package apacheconf

import (
	"strings"
)

// tlsDirective reads the mod_ssl directives the adapter translates: the
// certificate and key (Caddy's load_files), and client certificates
// (SSLVerifyClient with SSLCACertificateFile: client_authentication).
func (c *config) tlsDirective(s *server, d *directive) error {
	if len(d.args) != 1 {
		return errAt(d, "%s takes one value", d.name)
	}
	switch {
	case d.is("SSLCertificateFile"):
		s.certFile, s.certAt = c.l.path(d.args[0]), d
	case d.is("SSLCertificateKeyFile"):
		s.keyFile = c.l.path(d.args[0])
	case d.is("SSLCACertificateFile"):
		s.caFile = c.l.path(d.args[0])
	case d.is("SSLVerifyClient"):
		switch v := strings.ToLower(d.args[0]); v {
		case "none", "optional", "require", "optional_no_ca":
			s.verifyClient, s.verifyAt = v, d
		default:
			return errAt(d, "SSLVerifyClient %q: want none, optional, require or optional_no_ca", d.args[0])
		}
	}
	return nil
}

// clientAuthMode is Caddy's client_authentication mode for SSLVerifyClient.
func clientAuthMode(v string, haveCA bool) string {
	switch v {
	case "require":
		if haveCA {
			return "require_and_verify"
		}
		return "require"
	case "optional":
		if haveCA {
			return "verify_if_given"
		}
		return "request"
	case "optional_no_ca":
		return "request"
	}
	return ""
}

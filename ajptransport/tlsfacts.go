package ajptransport

import (
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"weak"
)

// tlsFacts is what AJP tells the servlet about the client's TLS connection:
// the same for every request on it.
type tlsFacts struct {
	cipher   string // ssl_cipher
	keySize  int    // ssl_key_size
	session  string // ssl_session
	protocol string // AJP_SSL_PROTOCOL
	certs    string // ssl_cert: the client's chain, PEM
}

func newTLSFacts(cs *tls.ConnectionState) *tlsFacts {
	f := &tlsFacts{
		cipher:   tls.CipherSuiteName(cs.CipherSuite),
		session:  tlsSessionID(cs),
		protocol: tlsProtocolName(cs.Version),
	}
	f.keySize = cipherKeyBits(f.cipher)
	if len(cs.PeerCertificates) > 0 {
		var sb strings.Builder
		for _, c := range cs.PeerCertificates {
			_ = pem.Encode(&sb, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		f.certs = sb.String()
	}
	return f
}

// tlsConns remembers the facts of the TLS connections requests are coming
// in on. Go's HTTP/1.1 and HTTP/2 servers give every request of a
// connection the same *tls.ConnectionState, so the facts (among them
// ssl_session, derived from the connection's keys: several HMACs) are
// worked out once per connection instead of once per request. An entry
// goes when its connection state is garbage: the cache holds it weakly.
type tlsConns struct {
	m sync.Map // weak.Pointer[tls.ConnectionState] → *tlsFacts
	n atomic.Int64
}

// maxTLSConns bounds the entries: states beyond it (more connections at
// once, or a server that makes a state per request) are worked out per
// request, as before.
const maxTLSConns = 1 << 16

// facts returns cs's facts; perConn says whether cs is the connection's
// own state, shared by its requests (HTTP/1.1, HTTP/2; HTTP/3 copies it
// for each request, so caching it would only fill the cache).
func (c *tlsConns) facts(cs *tls.ConnectionState, perConn bool) *tlsFacts {
	if !perConn || !cs.HandshakeComplete {
		return newTLSFacts(cs)
	}
	key := weak.Make(cs)
	if f, ok := c.m.Load(key); ok {
		return f.(*tlsFacts)
	}
	f := newTLSFacts(cs)
	if c.n.Load() >= maxTLSConns {
		return f
	}
	if _, loaded := c.m.LoadOrStore(key, f); !loaded {
		c.n.Add(1)
		runtime.AddCleanup(cs, func(key weak.Pointer[tls.ConnectionState]) {
			c.m.Delete(key)
			c.n.Add(-1)
		}, key)
	}
	return f
}

// tlsSessionID identifies the client's TLS connection. Go does not expose
// the TLS session id (TLS 1.3 has none), so this is 32 bytes exported from
// the connection's keys under a label of our own: stable for the connection,
// distinct between connections, and revealing nothing about the keys.
func tlsSessionID(cs *tls.ConnectionState) string {
	if !cs.HandshakeComplete {
		return ""
	}
	ekm, err := cs.ExportKeyingMaterial("EXPORTER-caddy-ajp-ssl-session", nil, 32)
	if err != nil {
		return ""
	}
	return strings.ToUpper(hex.EncodeToString(ekm))
}

package ajp

import "fmt"

// Header is one request header as it goes on the wire. Names the AJP
// reference gives a code (Accept, Cookie, Host, User-Agent, …) are sent as
// that code, in any case; others as strings.
type Header struct {
	Name  string // the header name, e.g. "Accept-Language"
	Value string // the header value; several values are joined by the caller
}

// Attribute is one req_attribute (0x0A) name/value pair. Tomcat maps
// AJP_REMOTE_PORT, AJP_LOCAL_ADDR, AJP_SSL_PROTOCOL and JK_LB_ACTIVATION
// and refuses other names unless its allowedRequestAttributesPattern
// matches them.
type Attribute struct {
	Name  string // the attribute name as the servlet reads it with getAttribute
	Value string // its value
}

// ForwardRequest holds the fields of an AJP FORWARD_REQUEST message. Strings
// that are empty are sent as empty strings, except where a field says it is
// sent as the null string or omitted when empty.
type ForwardRequest struct {
	// Method is the HTTP method; one without an AJP code goes as code 0xFF
	// and its name in the stored_method attribute.
	Method string
	// Protocol is the client's protocol, e.g. "HTTP/1.1"
	// (request.getProtocol()).
	Protocol string
	// RequestURI is the encoded path, without the query.
	RequestURI string
	// RemoteAddr is the client's IP address (request.getRemoteAddr()).
	RemoteAddr string
	// RemoteHost is the client's host name; sent as the null string when
	// empty, and Tomcat then reports RemoteAddr.
	RemoteHost string
	// ServerName is the host name the client asked for (from Host).
	ServerName string
	// ServerPort is the port the front end accepted the connection on
	// (Tomcat's getLocalPort()).
	ServerPort uint16
	// IsSSL tells the container the client's connection is TLS
	// (request.isSecure()).
	IsSSL bool
	// Headers are the request headers, in order; at most 65535.
	Headers []Header

	// The attributes below are each omitted when empty (HasQuery and
	// SSLKeySize > 0 mark the two that can't use emptiness).

	// RemoteUser is the user the front end authenticated
	// (request.getRemoteUser()).
	RemoteUser string
	// AuthType is the scheme of that authentication, e.g. "Basic".
	AuthType string
	// QueryString is the raw query, without the '?'.
	QueryString string
	// HasQuery sends QueryString even when it is empty (a bare "?").
	HasQuery bool
	// JvmRoute is the route the front end chose (jvm_route).
	JvmRoute string
	// SSLCert is the client's certificate chain, PEM-encoded.
	SSLCert string
	// SSLCipher is the TLS cipher suite's name.
	SSLCipher string
	// SSLSession identifies the client's TLS session.
	SSLSession string
	// SSLKeySize is the cipher's key size in bits; sent as an AJP integer
	// (not a string) when > 0.
	SSLKeySize int
	// Secret is the shared secret of the connector (its `secret`).
	Secret string
	// ReqAttributes are req_attribute pairs, in order.
	ReqAttributes []Attribute
}

// AppendForwardRequest appends fr as one complete packet (header included) to
// dst and returns the extended slice. maxPacket is the connector's packet
// size; a message that does not fit returns ErrPacketTooLarge. It does not
// allocate when dst has room.
func AppendForwardRequest(dst []byte, fr *ForwardRequest, maxPacket int) ([]byte, error) {
	start := len(dst)
	b := append(dst, PrefixToContainer1, PrefixToContainer2, 0, 0, TypeForwardRequest)
	mcode := methodCode(fr.Method)
	b = append(b, mcode)
	b = appendString(b, fr.Protocol)
	b = appendString(b, fr.RequestURI)
	b = appendString(b, fr.RemoteAddr)
	b = appendNullableString(b, fr.RemoteHost)
	b = appendString(b, fr.ServerName)
	b = appendInt(b, fr.ServerPort)
	b = appendBool(b, fr.IsSSL)
	if len(fr.Headers) > 0xFFFF {
		return dst, fmt.Errorf("%w: %d headers", ErrPacketTooLarge, len(fr.Headers))
	}
	b = appendInt(b, uint16(len(fr.Headers)))
	for i := range fr.Headers {
		h := &fr.Headers[i]
		if code := requestHeaderCode(h.Name); code != 0 {
			b = appendInt(b, code)
		} else {
			if len(h.Name)>>8 == 0xA0 {
				// a length whose high byte is 0xA0 reads as a header code
				return dst, fmt.Errorf("%w: header name of %d bytes", ErrPacketTooLarge, len(h.Name))
			}
			b = appendString(b, h.Name)
		}
		b = appendString(b, h.Value)
		if len(b)-start > maxPacket {
			// stop early: a huge header block must not grow the buffer without bound
			return dst, ErrPacketTooLarge
		}
	}
	if fr.RemoteUser != "" {
		b = append(b, attrRemoteUser)
		b = appendString(b, fr.RemoteUser)
	}
	if fr.AuthType != "" {
		b = append(b, attrAuthType)
		b = appendString(b, fr.AuthType)
	}
	if fr.HasQuery || fr.QueryString != "" {
		b = append(b, attrQueryString)
		b = appendString(b, fr.QueryString)
	}
	if fr.JvmRoute != "" {
		b = append(b, attrJvmRoute)
		b = appendString(b, fr.JvmRoute)
	}
	if fr.SSLCert != "" {
		b = append(b, attrSSLCert)
		b = appendString(b, fr.SSLCert)
	}
	if fr.SSLCipher != "" {
		b = append(b, attrSSLCipher)
		b = appendString(b, fr.SSLCipher)
	}
	if fr.SSLSession != "" {
		b = append(b, attrSSLSession)
		b = appendString(b, fr.SSLSession)
	}
	if fr.SSLKeySize > 0 {
		b = append(b, attrSSLKeySize)
		b = appendInt(b, uint16(min(fr.SSLKeySize, 0xFFFF)))
	}
	for i := range fr.ReqAttributes {
		a := &fr.ReqAttributes[i]
		b = append(b, attrReqAttribute)
		b = appendString(b, a.Name)
		b = appendString(b, a.Value)
	}
	if fr.Secret != "" {
		b = append(b, attrSecret)
		b = appendString(b, fr.Secret)
	}
	if mcode == methodStored {
		b = append(b, attrStoredMethod)
		b = appendString(b, fr.Method)
	}
	b = append(b, attrAreDone)
	if len(b)-start > maxPacket {
		return dst, ErrPacketTooLarge
	}
	payload := len(b) - start - HeaderLen
	b[start+2] = byte(payload >> 8)
	b[start+3] = byte(payload)
	return b, nil
}

// AppendBodyChunk appends a request body packet carrying data to dst. An
// empty data makes the end-of-body packet (12 34 00 00). The caller keeps
// len(data) <= packetSize-6.
func AppendBodyChunk(dst []byte, data []byte) []byte {
	if len(data) == 0 {
		return append(dst, PrefixToContainer1, PrefixToContainer2, 0, 0)
	}
	return append(AppendBodyChunkHeader(dst, len(data)), data...)
}

// AppendBodyChunkHeader appends the packet header and chunk length of a
// request body packet of n data bytes; the caller appends the n bytes. It
// lets a caller read the data straight into the packet.
func AppendBodyChunkHeader(dst []byte, n int) []byte {
	return append(dst, PrefixToContainer1, PrefixToContainer2, byte((n+2)>>8), byte(n+2), byte(n>>8), byte(n))
}

// cpingPacket is CPING: 12 34 00 01 0A.
var cpingPacket = []byte{PrefixToContainer1, PrefixToContainer2, 0, 1, TypeCPing}

// AppendCPing appends a CPING packet (12 34 00 01 0A) to dst. The
// container answers with CPONG ('A' 'B' 00 01 09).
func AppendCPing(dst []byte) []byte { return append(dst, cpingPacket...) }

func appendInt(b []byte, v uint16) []byte { return append(b, byte(v>>8), byte(v)) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendString appends an AJP string: length, bytes, NUL. Strings longer than
// a packet are truncated in the length field only; the overall packet check
// of the caller rejects them before they reach the wire.
func appendString(b []byte, s string) []byte {
	n := len(s)
	if n >= nullStringLen {
		n = nullStringLen - 1
	}
	b = append(b, byte(n>>8), byte(n))
	b = append(b, s...)
	return append(b, 0)
}

// appendNullableString sends the empty string as the AJP null string.
func appendNullableString(b []byte, s string) []byte {
	if s == "" {
		return append(b, 0xFF, 0xFF)
	}
	return appendString(b, s)
}

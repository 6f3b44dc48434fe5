// Package ajp is the AJP/1.3 wire format as a web server (the proxy side)
// speaks it: the packet framing, the message types and codes of the AJPv13
// reference (tomcat.apache.org/connectors-doc/ajp/ajpv13a.html), an encoder
// for the messages a web server sends (FORWARD_REQUEST, request body
// chunks, CPING) and decoders for those a container sends (SEND_HEADERS,
// SEND_BODY_CHUNK, END_RESPONSE, GET_BODY_CHUNK, CPONG).
//
// The package is pure: functions take and return bytes and values, with no
// network, configuration or logging, so each one is fuzzed
// (testdata/fuzz holds the seed corpus) and benchmarked on its own.
// Encoders append into a caller's slice and do not allocate when it has
// room; decoders reuse what the caller passes in.
//
// Names follow the AJP reference and Tomcat's org.apache.coyote.ajp
// (AjpMessage, Constants), so the code can be held against them line by
// line.
package ajp

import "errors"

// Packet framing. Every packet is a two-byte prefix, a big-endian uint16
// payload length and the payload. Packets from the web server to the
// container start with 0x12 0x34; packets from the container with 'A' 'B'.
const (
	PrefixToContainer1   = 0x12 // first byte of a web server → container packet
	PrefixToContainer2   = 0x34 // second byte of a web server → container packet
	PrefixFromContainer1 = 'A'  // first byte of a container → web server packet
	PrefixFromContainer2 = 'B'  // second byte of a container → web server packet
	HeaderLen            = 4    // prefix (2) + payload length (2)
)

// Message types (the first payload byte), named as in the AJPv13 reference
// and Tomcat's Constants.
const (
	TypeForwardRequest = 2  // web server → container: a request (FORWARD_REQUEST)
	TypeSendBodyChunk  = 3  // container → web server: response body bytes (SEND_BODY_CHUNK)
	TypeSendHeaders    = 4  // container → web server: status and headers (SEND_HEADERS)
	TypeEndResponse    = 5  // container → web server: end of response, reuse flag (END_RESPONSE)
	TypeGetBodyChunk   = 6  // container → web server: asks for request body bytes (GET_BODY_CHUNK)
	TypeShutdown       = 7  // web server → container: shutdown (never sent by this package)
	TypeCPong          = 9  // container → web server: the answer to CPING
	TypeCPing          = 10 // web server → container: are you alive?
)

// Packet sizes accepted by Tomcat's AJP connector (its packetSize
// attribute). Both sides must use the same size.
const (
	DefaultPacketSize = 8192  // Tomcat's default packetSize
	MinPacketSize     = 8192  // the smallest packetSize Tomcat accepts
	MaxPacketSize     = 65536 // the largest packetSize Tomcat accepts
)

// BodyChunkOverhead is what a request body packet carries besides the
// data: the packet header (4) and the chunk length (2). A request body
// chunk holds at most packetSize-BodyChunkOverhead bytes.
const BodyChunkOverhead = 6

// methodStored marks a method without a code; its name travels in the
// stored_method attribute.
const methodStored = 0xFF

// methodCodes maps HTTP methods to their AJP codes.
var methodCodes = map[string]byte{
	"OPTIONS":          1,
	"GET":              2,
	"HEAD":             3,
	"POST":             4,
	"PUT":              5,
	"DELETE":           6,
	"TRACE":            7,
	"PROPFIND":         8,
	"PROPPATCH":        9,
	"MKCOL":            10,
	"COPY":             11,
	"MOVE":             12,
	"LOCK":             13,
	"UNLOCK":           14,
	"ACL":              15,
	"REPORT":           16,
	"VERSION-CONTROL":  17,
	"CHECKIN":          18,
	"CHECKOUT":         19,
	"UNCHECKOUT":       20,
	"SEARCH":           21,
	"MKWORKSPACE":      22,
	"UPDATE":           23,
	"LABEL":            24,
	"MERGE":            25,
	"BASELINE-CONTROL": 26,
	"MKACTIVITY":       27,
}

// methodCode returns the AJP code of method, or methodStored. The common
// methods are switched on first so the hot path does not hash.
func methodCode(method string) byte {
	switch method {
	case "GET":
		return 2
	case "POST":
		return 4
	case "HEAD":
		return 3
	}
	if c, ok := methodCodes[method]; ok {
		return c
	}
	return methodStored
}

// Request header codes (0xA0xx), in code order.
var requestHeaderNames = [...]string{
	"accept", "accept-charset", "accept-encoding", "accept-language",
	"authorization", "connection", "content-type", "content-length",
	"cookie", "cookie2", "host", "pragma", "referer", "user-agent",
}

// requestHeaderCode returns the AJP code for a request header name
// (any case), or 0 when the header travels as a string.
func requestHeaderCode(name string) uint16 {
	// Go hands us canonical names; match those without folding.
	switch name {
	case "Accept":
		return 0xA001
	case "Accept-Charset":
		return 0xA002
	case "Accept-Encoding":
		return 0xA003
	case "Accept-Language":
		return 0xA004
	case "Authorization":
		return 0xA005
	case "Connection":
		return 0xA006
	case "Content-Type":
		return 0xA007
	case "Content-Length":
		return 0xA008
	case "Cookie":
		return 0xA009
	case "Cookie2":
		return 0xA00A
	case "Host":
		return 0xA00B
	case "Pragma":
		return 0xA00C
	case "Referer":
		return 0xA00D
	case "User-Agent":
		return 0xA00E
	}
	for i, n := range requestHeaderNames {
		if len(n) == len(name) && equalFoldASCII(n, name) {
			return 0xA001 + uint16(i)
		}
	}
	return 0
}

// Response header codes (0xA0xx), index = code-0xA001, canonical names.
var responseHeaderNames = [...]string{
	"Content-Type", "Content-Language", "Content-Length", "Date",
	"Last-Modified", "Location", "Set-Cookie", "Set-Cookie2",
	"Servlet-Engine", "Status", "Www-Authenticate",
}

// Attribute codes of FORWARD_REQUEST.
const (
	attrContext      = 0x01
	attrServletPath  = 0x02
	attrRemoteUser   = 0x03
	attrAuthType     = 0x04
	attrQueryString  = 0x05
	attrJvmRoute     = 0x06
	attrSSLCert      = 0x07
	attrSSLCipher    = 0x08
	attrSSLSession   = 0x09
	attrReqAttribute = 0x0A
	attrSSLKeySize   = 0x0B
	attrSecret       = 0x0C
	attrStoredMethod = 0x0D
	attrAreDone      = 0xFF
	nullStringLen    = 0xFFFF
)

// Errors the codec reports. Callers branch on them with errors.Is.
var (
	// ErrPacketTooLarge means a message does not fit in one packet of the
	// configured packet size.
	ErrPacketTooLarge = errors.New("AJP message does not fit in one packet")
	// ErrProtocol means the container sent something that is not valid AJP/1.3.
	ErrProtocol = errors.New("AJP protocol error")
	// ErrUnrelayable means the container sent valid AJP carrying an HTTP
	// response that cannot be relayed as it is: a status outside 200–999
	// (AJP carries no interim responses), or a Content-Length that is not
	// a number, conflicts with another, or disagrees with the body. A
	// servlet can cause all of these; the container and the connection to
	// it are fine.
	ErrUnrelayable = errors.New("response cannot be relayed")
)

func equalFoldASCII(lower, s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

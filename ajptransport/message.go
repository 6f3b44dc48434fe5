package ajptransport

import "errors"

// Packet prefixes. Packets from the web server (us) to the container start
// with 0x12 0x34; packets from the container start with 'A' 'B'.
const (
	prefixToServer1   = 0x12
	prefixToServer2   = 0x34
	prefixFromServer1 = 'A'
	prefixFromServer2 = 'B'
	packetHeaderLen   = 4 // prefix (2) + payload length (2)
)

// Message types, named as in the AJPv13 reference and Tomcat's Constants.
const (
	typeForwardRequest = 2
	typeSendBodyChunk  = 3
	typeSendHeaders    = 4
	typeEndResponse    = 5
	typeGetBodyChunk   = 6
	typeShutdown       = 7
	typeCPong          = 9
	typeCPing          = 10
)

// Packet sizes accepted by Tomcat's connector (its packetSize attribute).
const (
	DefaultPacketSize = 8192
	MinPacketSize     = 8192
	MaxPacketSize     = 65536
)

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
	attrContext       = 0x01
	attrServletPath   = 0x02
	attrRemoteUser    = 0x03
	attrAuthType      = 0x04
	attrQueryString   = 0x05
	attrJvmRoute      = 0x06
	attrSSLCert       = 0x07
	attrSSLCipher     = 0x08
	attrSSLSession    = 0x09
	attrReqAttribute  = 0x0A
	attrSSLKeySize    = 0x0B
	attrSecret        = 0x0C
	attrStoredMethod  = 0x0D
	attrAreDone       = 0xFF
	nullStringLen     = 0xFFFF
	maxBodyChunkDelta = 6 // a request body chunk carries at most packetSize-6 bytes
)

// Errors the codec reports. Callers branch on them with errors.Is.
var (
	// ErrPacketTooLarge means a message does not fit in one packet of the
	// configured packet size.
	ErrPacketTooLarge = errors.New("AJP message does not fit in one packet")
	// ErrProtocol means the container sent something that is not valid AJP/1.3.
	ErrProtocol = errors.New("AJP protocol error")
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

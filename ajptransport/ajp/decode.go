package ajp

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"net/textproto"

	"golang.org/x/net/http/httpguts"
)

// ParsePacketHeader checks the four bytes that start every packet from the
// container ('A' 'B' length) and returns the payload length. maxPacket is
// the connector's packet size.
func ParsePacketHeader(hdr []byte, maxPacket int) (int, error) {
	if len(hdr) < HeaderLen {
		return 0, fmt.Errorf("%w: short packet header", ErrProtocol)
	}
	if hdr[0] != PrefixFromContainer1 || hdr[1] != PrefixFromContainer2 {
		return 0, fmt.Errorf("%w: bad packet prefix %#02x %#02x (is this an AJP port?)", ErrProtocol, hdr[0], hdr[1])
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	if n == 0 {
		return 0, fmt.Errorf("%w: empty packet", ErrProtocol)
	}
	if n > maxPacket-HeaderLen {
		return 0, fmt.Errorf("%w: packet of %d bytes exceeds packet_size %d", ErrProtocol, n+HeaderLen, maxPacket)
	}
	return n, nil
}

// ResponseHead is the decoded SEND_HEADERS message.
type ResponseHead struct {
	// Status is the HTTP status code.
	Status int
	// Header holds the response headers, with coded names in their
	// canonical form. A non-nil map passed in is reused (the caller clears it).
	Header http.Header
	// ContentLength is the declared Content-Length, -1 when absent.
	ContentLength int64
}

// ParseSendHeaders decodes a SEND_HEADERS payload (type byte included) into
// head. Broken framing is ErrProtocol; a well-formed message carrying a
// response HTTP cannot relay (a status outside 200–999, a bad or
// conflicting Content-Length) is ErrUnrelayable. Headers whose names are not valid HTTP field names are dropped (a
// servlet can't use them to split the response); values have CR and LF
// replaced later by the HTTP server.
func ParseSendHeaders(p []byte, head *ResponseHead) error {
	d := decoder{b: p}
	if t := d.byte(); t != TypeSendHeaders {
		return fmt.Errorf("%w: expected SEND_HEADERS, got type %d", ErrProtocol, t)
	}
	head.Status = int(d.int())
	d.skipString() // reason phrase: Tomcat sends the numeric code, nothing to keep
	n := int(d.int())
	if d.err != nil {
		return d.err
	}
	if head.Status < 200 || head.Status > 999 {
		return fmt.Errorf("%w: status %d", ErrUnrelayable, head.Status)
	}
	if head.Header == nil {
		// each header takes at least 5 bytes: never trust the count alone
		head.Header = make(http.Header, min(n, len(d.b)/5))
	}
	head.ContentLength = -1
	// All values share one string and one []string backing array: two
	// allocations for the values however many headers there are.
	var spans [16]valueSpan
	sp := spans[:0]
	var buf [512]byte
	vb := buf[:0]
	for i := 0; i < n; i++ {
		var name string
		if len(d.b) >= 2 && d.b[0] == 0xA0 {
			code := int(d.int())
			idx := code - 0xA001
			if idx < 0 || idx >= len(responseHeaderNames) {
				return fmt.Errorf("%w: unknown response header code %#04x", ErrProtocol, code)
			}
			name = responseHeaderNames[idx]
		} else {
			raw, ok := d.bytes()
			if !ok {
				return d.errOr("null header name")
			}
			if !httpguts.ValidHeaderFieldName(string(raw)) {
				d.skipString()
				continue
			}
			name = textproto.CanonicalMIMEHeaderKey(string(raw))
		}
		raw, _ := d.bytes() // a null value reads as empty
		if d.err != nil {
			return d.err
		}
		if name == "Content-Length" {
			cl, ok := parseContentLength(raw)
			if !ok {
				return fmt.Errorf("%w: invalid Content-Length %q", ErrUnrelayable, raw)
			}
			if head.ContentLength >= 0 && head.ContentLength != cl {
				return fmt.Errorf("%w: conflicting Content-Length headers", ErrUnrelayable)
			}
			if head.ContentLength >= 0 {
				continue // identical duplicate
			}
			head.ContentLength = cl
		}
		sp = append(sp, valueSpan{name: name, start: len(vb), end: len(vb) + len(raw)})
		vb = append(vb, raw...)
	}
	if d.err != nil {
		return d.err
	}
	all := string(vb)
	vals := make([]string, len(sp))
	for i, v := range sp {
		vals[i] = all[v.start:v.end]
		if prev, ok := head.Header[v.name]; ok {
			head.Header[v.name] = append(prev, vals[i])
		} else {
			head.Header[v.name] = vals[i : i+1 : i+1]
		}
	}
	return d.err
}

type valueSpan struct {
	name       string
	start, end int
}

// ParseGetBodyChunk decodes GET_BODY_CHUNK and returns the requested size.
func ParseGetBodyChunk(p []byte) (int, error) {
	if len(p) != 3 || p[0] != TypeGetBodyChunk {
		return 0, fmt.Errorf("%w: malformed GET_BODY_CHUNK", ErrProtocol)
	}
	return int(binary.BigEndian.Uint16(p[1:])), nil
}

// ParseEndResponse decodes END_RESPONSE and returns its reuse flag. Tomcat
// may add padding after the flag.
func ParseEndResponse(p []byte) (bool, error) {
	if len(p) < 2 || p[0] != TypeEndResponse || p[1] > 1 {
		return false, fmt.Errorf("%w: malformed END_RESPONSE", ErrProtocol)
	}
	return p[1] == 1, nil
}

// ParseBodyChunkLen decodes the start of SEND_BODY_CHUNK (type byte and
// length) and checks the chunk fits in a payload of payloadLen bytes. Tomcat
// adds one 0x00 after the data, which the caller skips.
func ParseBodyChunkLen(p []byte, payloadLen int) (int, error) {
	if len(p) < 3 || p[0] != TypeSendBodyChunk {
		return 0, fmt.Errorf("%w: malformed SEND_BODY_CHUNK", ErrProtocol)
	}
	n := int(binary.BigEndian.Uint16(p[1:]))
	if n+3 > payloadLen {
		return 0, fmt.Errorf("%w: body chunk of %d bytes overruns its packet of %d", ErrProtocol, n, payloadLen)
	}
	return n, nil
}

// parseContentLength reads a Content-Length: decimal digits only, up to
// the largest int64 (9223372036854775807, 19 digits).
func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// decoder reads AJP types from a payload; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated message reading %s", ErrProtocol, what)
	}
	d.b = nil
}

func (d *decoder) errOr(msg string) error {
	if d.err != nil {
		return d.err
	}
	return fmt.Errorf("%w: %s", ErrProtocol, msg)
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) int() uint16 {
	if len(d.b) < 2 {
		d.fail("integer")
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

// bytes reads a string; ok is false for the null string or on error.
func (d *decoder) bytes() (b []byte, ok bool) {
	n := int(d.int())
	if d.err != nil {
		return nil, false
	}
	if n == nullStringLen {
		return nil, false
	}
	if len(d.b) < n+1 {
		d.fail("string")
		return nil, false
	}
	if d.b[n] != 0 {
		d.err = fmt.Errorf("%w: string not NUL-terminated", ErrProtocol)
		d.b = nil
		return nil, false
	}
	b = d.b[:n]
	d.b = d.b[n+1:]
	return b, true
}

func (d *decoder) skipString() { d.bytes() }

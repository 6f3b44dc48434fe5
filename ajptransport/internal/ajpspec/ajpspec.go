// Package ajpspec holds test support for the AJP codec and transport,
// written from the AJPv13 reference rather than from the codec, so tests
// can hold the codec against the spec: byte builders for hand-written
// packets, a container-side FORWARD_REQUEST reader, and the fuzz seed
// corpus writer. Only tests import it.
package ajpspec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Wire concatenates bytes written by hand: an int is one byte (0..255), a
// string or []byte its raw bytes. Lengths and NULs are spelled out by the
// caller.
func Wire(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			if v < 0 || v > 0xFF {
				panic(fmt.Sprintf("wire: %d is not a byte", v))
			}
			b = append(b, byte(v))
		case byte:
			b = append(b, v)
		case rune:
			b = append(b, byte(v))
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("wire: unexpected %T", p))
		}
	}
	return b
}

// Str is an AJP string: uint16 length (without the NUL), the bytes, 0x00.
func Str(s string) []byte {
	b := []byte{byte(len(s) >> 8), byte(len(s))}
	b = append(b, s...)
	return append(b, 0)
}

// Int is an AJP integer: uint16 big-endian.
func Int(v int) []byte { return []byte{byte(v >> 8), byte(v)} }

// ToContainer frames a payload as a web server → container packet (12 34).
func ToContainer(payload []byte) []byte {
	return append([]byte{0x12, 0x34, byte(len(payload) >> 8), byte(len(payload))}, payload...)
}

// FromContainer frames a payload as a container → web server packet ('A' 'B').
func FromContainer(payload []byte) []byte {
	return append([]byte{'A', 'B', byte(len(payload) >> 8), byte(len(payload))}, payload...)
}

// Methods by their AJP code, from the reference's table.
var methods = map[byte]string{
	1: "OPTIONS", 2: "GET", 3: "HEAD", 4: "POST", 5: "PUT", 6: "DELETE", 7: "TRACE",
	8: "PROPFIND", 9: "PROPPATCH", 10: "MKCOL", 11: "COPY", 12: "MOVE", 13: "LOCK",
	14: "UNLOCK", 15: "ACL", 16: "REPORT", 17: "VERSION-CONTROL", 18: "CHECKIN",
	19: "CHECKOUT", 20: "UNCHECKOUT", 21: "SEARCH", 22: "MKWORKSPACE", 23: "UPDATE",
	24: "LABEL", 25: "MERGE", 26: "BASELINE-CONTROL", 27: "MKACTIVITY",
}

// Methods returns a copy of the reference's method table, code → name.
func Methods() map[byte]string {
	m := make(map[byte]string, len(methods))
	for k, v := range methods {
		m[k] = v
	}
	return m
}

// requestHeaders are the coded request header names, code 0xA001 first.
var requestHeaders = [...]string{
	"accept", "accept-charset", "accept-encoding", "accept-language",
	"authorization", "connection", "content-type", "content-length",
	"cookie", "cookie2", "host", "pragma", "referer", "user-agent",
}

// RequestHeaderNames returns the coded request header names, in code order
// (0xA001 first), lower-case.
func RequestHeaderNames() []string { return append([]string(nil), requestHeaders[:]...) }

// Attribute codes of FORWARD_REQUEST (Request.Attrs is keyed by them).
const (
	AttrRemoteUser   = 0x03
	AttrAuthType     = 0x04
	AttrQueryString  = 0x05
	AttrSSLCert      = 0x07
	AttrSSLCipher    = 0x08
	AttrSSLSession   = 0x09
	AttrSecret       = 0x0C
	AttrReqAttribute = 0x0A
	AttrSSLKeySize   = 0x0B
	AttrStoredMethod = 0x0D
	attrAreDone      = 0xFF
)

// Request is FORWARD_REQUEST as a container decodes it.
type Request struct {
	Method                 string
	Protocol, URI          string
	RemoteAddr, RemoteHost string
	RemoteHostNull         bool
	ServerName             string
	ServerPort             int
	IsSSL                  bool
	Headers                [][2]string // name as decoded (lower-case for coded headers)
	Attrs                  map[byte]string
	KeySize                int
	ReqAttrs               map[string]string
}

// Header returns the first value of the named header (any case), or "".
func (pr *Request) Header(name string) string {
	for _, h := range pr.Headers {
		if strings.EqualFold(h[0], name) {
			return h[1]
		}
	}
	return ""
}

var errNull = errors.New("null string")

type rd struct {
	b   []byte
	err error
}

func (r *rd) u8() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *rd) u16() int {
	if r.err != nil || len(r.b) < 2 {
		r.err = io.ErrUnexpectedEOF
		return 0
	}
	v := int(binary.BigEndian.Uint16(r.b))
	r.b = r.b[2:]
	return v
}

func (r *rd) str() (string, error) {
	n := r.u16()
	if r.err != nil {
		return "", r.err
	}
	if n == 0xFFFF {
		return "", errNull
	}
	if len(r.b) < n+1 || r.b[n] != 0 {
		r.err = fmt.Errorf("bad string of length %d", n)
		return "", r.err
	}
	s := string(r.b[:n])
	r.b = r.b[n+1:]
	return s, nil
}

// ParseForwardRequest decodes a FORWARD_REQUEST payload (type byte
// included) as a container would. It panics on a coded header outside the
// reference's table; ParseForwardRequestSafe turns that into an error.
func ParseForwardRequest(p []byte) (*Request, error) {
	r := &rd{b: p}
	if t := r.u8(); t != 2 {
		return nil, fmt.Errorf("type %d", t)
	}
	pr := &Request{Attrs: map[byte]string{}, ReqAttrs: map[string]string{}}
	if m := r.u8(); m != 0xFF {
		pr.Method = methods[m]
	}
	pr.Protocol, _ = r.str()
	pr.URI, _ = r.str()
	pr.RemoteAddr, _ = r.str()
	var err error
	pr.RemoteHost, err = r.str()
	pr.RemoteHostNull = err == errNull
	pr.ServerName, _ = r.str()
	pr.ServerPort = r.u16()
	pr.IsSSL = r.u8() == 1
	n := r.u16()
	for i := 0; i < n && r.err == nil; i++ {
		var name string
		if len(r.b) >= 2 && r.b[0] == 0xA0 {
			code := r.u16()
			name = requestHeaders[code-0xA001]
		} else {
			name, _ = r.str()
		}
		v, _ := r.str()
		pr.Headers = append(pr.Headers, [2]string{name, v})
	}
	for r.err == nil {
		a := r.u8()
		if a == attrAreDone {
			break
		}
		switch a {
		case AttrReqAttribute:
			k, _ := r.str()
			v, _ := r.str()
			pr.ReqAttrs[k] = v
		case AttrSSLKeySize:
			pr.KeySize = r.u16()
		default:
			v, _ := r.str()
			pr.Attrs[a] = v
			if a == AttrStoredMethod {
				pr.Method = v
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return pr, nil
}

// ParseForwardRequestSafe is ParseForwardRequest that turns a panic of the
// reader (e.g. an unknown coded header) into an error.
func ParseForwardRequestSafe(p []byte) (pr *Request, err error) {
	defer func() {
		if r := recover(); r != nil {
			pr, err = nil, fmt.Errorf("container failed to decode: %v", r)
		}
	}()
	return ParseForwardRequest(p)
}

// Seed is one named fuzz seed: the arguments of the fuzz function.
type Seed struct {
	Name string
	Args []any
}

// MarshalCorpus writes args in the `go test fuzz v1` file format.
func MarshalCorpus(args []any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case uint16, int, bool:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		default:
			panic(fmt.Sprintf("MarshalCorpus: unsupported %T", a))
		}
	}
	return b.Bytes()
}

// CheckCorpus checks that testdata/fuzz/<target>/<name> holds each seed,
// or writes the files when update is set. Crashers `go test -fuzz` adds
// under hashed names are left alone.
func CheckCorpus(t *testing.T, seeds map[string][]Seed, update bool) {
	t.Helper()
	for target, list := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		for _, s := range list {
			if seen[s.Name] {
				t.Fatalf("%s: duplicate seed name %q", target, s.Name)
			}
			seen[s.Name] = true
			path := filepath.Join(dir, s.Name)
			want := MarshalCorpus(s.Args)
			if update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("seed %s is missing or stale (err %v); run go test -run TestFuzzSeedCorpus -update-fuzz-seeds", path, err)
			}
		}
	}
}

// SendHeaders builds a SEND_HEADERS payload by hand: status, reason (an
// encoded string), then the header count and the pre-encoded headers.
func SendHeaders(status int, reason []byte, count int, headers ...[]byte) []byte {
	return Wire(0x04, Int(status), reason, Int(count), bytes.Join(headers, nil))
}

// Header encodes a response header sent by name.
func Header(name, value string) []byte { return Wire(Str(name), Str(value)) }

// CodedHeader encodes a response header sent by its code (0xA001…).
func CodedHeader(code int, value string) []byte { return Wire(Int(code), Str(value)) }

// BrowserHeaders are the headers of a browser's page request (ten of them,
// cookies included, and Host), as benchmarks send them.
func BrowserHeaders() [][2]string {
	return [][2]string{
		{"Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"},
		{"Accept-Encoding", "gzip, deflate, br, zstd"},
		{"Accept-Language", "en-US,en;q=0.9,de;q=0.8"},
		{"Cache-Control", "max-age=0"},
		{"Cookie", "JSESSIONID=8A2F0C6F1E4B4F0D9C5E7A1B2C3D4E5F.node1; theme=dark; consent=yes; _ga=GA1.2.123456789.1700000000"},
		{"Referer", "https://shop.example.com/shop/catalog/"},
		{"Sec-Fetch-Dest", "document"},
		{"Sec-Fetch-Mode", "navigate"},
		{"Upgrade-Insecure-Requests", "1"},
		{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"},
		{"Host", "shop.example.com"},
	}
}

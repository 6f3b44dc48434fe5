// Package tomcatpath reads a request path the way Tomcat will read it, so
// that what Caddy decides about a path and what Tomcat serves for it can
// never disagree.
//
// Tomcat's CoyoteAdapter takes the raw request URI, removes the path
// parameters (";name=value") from every segment, percent-decodes the rest
// once, then normalises it (merges slashes, resolves "." and ".."). A front
// end that matches the raw or merely cleaned path sees "/share/..;/manager"
// under "/share/", while Tomcat serves "/manager": the "..;" traversal. This
// package is pure and small so that the AJP transport, the sticky-session
// policy and the directive's path mapping all use the same reading.
package tomcatpath

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// ErrTraversal is returned for a path with a segment that becomes "." or
// ".." only through Tomcat's reading (path parameters or percent-decoding).
var ErrTraversal = errors.New("path segment becomes a dot-segment only after Tomcat removes path parameters or percent-decodes it")

// ErrInvalid is returned for a path Tomcat itself rejects with 400.
var ErrInvalid = errors.New("path Tomcat rejects")

// Check returns an error wrapping ErrTraversal when a segment of the raw
// (still percent-encoded) path becomes "." or ".." only through Tomcat's
// reading: "..;", ".;x", "%2e%2e", "%2E.;y", "..%2f" and the like. Plain "."
// and ".." segments pass: every matcher resolves them the same way Tomcat
// does. Legitimate paths pass untouched: ";jsessionid=" on an ordinary
// segment, "file%2etxt", a double-encoded "%252e", unicode.
func Check(raw string) error {
	for rest := raw; rest != ""; {
		var seg string
		seg, rest = cutSegment(rest)
		if seg == "" || seg == "." || seg == ".." {
			continue
		}
		if strings.IndexByte(seg, ';') < 0 && strings.IndexByte(seg, '%') < 0 && strings.IndexByte(seg, '\\') < 0 {
			continue // fast path: nothing Tomcat would change
		}
		name, _, _ := strings.Cut(seg, ";")
		dec, ok := decode(name)
		if !ok {
			continue // Tomcat answers 400 for a bad escape
		}
		// A decoded segment may hold "/" (%2F) or "\" (%5C, or raw):
		// Tomcat configured to accept those would split it further.
		// (a segment without one is its own single piece)
		for _, piece := range strings.FieldsFunc(dec, isSlash) {
			if piece == "." || piece == ".." {
				return fmt.Errorf("%w: %q", ErrTraversal, seg)
			}
		}
	}
	if strings.IndexByte(raw, ';') < 0 {
		return nil // without path parameters both readings agree
	}
	// Path parameters can also move plain dot-segments: in "/share/;/../x"
	// a matcher's ".." removes the ";" segment (giving /share/x), while
	// Tomcat first empties that segment, merges the slashes, and lets ".."
	// remove "share" (giving /x). Compare the two readings.
	tomcat, err := Normalize(raw)
	if err != nil {
		return nil // Tomcat answers 400
	}
	dec, ok := decode(raw)
	if !ok {
		return nil
	}
	plain := StripParams(path.Clean(dec))
	if strings.TrimSuffix(plain, "/") != strings.TrimSuffix(tomcat, "/") {
		return fmt.Errorf("%w: %q is %q to Tomcat but %q to a path matcher", ErrTraversal, raw, tomcat, plain)
	}
	return nil
}

func isSlash(r rune) bool { return r == '/' || r == '\\' }

// cutSegment returns the first segment of a path (without its leading
// slashes) and the rest.
func cutSegment(p string) (seg, rest string) {
	p = strings.TrimLeft(p, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[:i], p[i:]
	}
	return p, ""
}

// StripParams removes the path parameters of every segment, as Tomcat does
// before it decodes the path: "/a;x=1/b;jsessionid=Z" gives "/a/b".
func StripParams(raw string) string {
	if strings.IndexByte(raw, ';') < 0 {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); {
		if raw[i] != ';' {
			b.WriteByte(raw[i])
			i++
			continue
		}
		j := strings.IndexByte(raw[i:], '/')
		if j < 0 {
			break
		}
		i += j
	}
	return b.String()
}

// PathParam returns the value of the path parameter name, as Tomcat finds
// it: parameters are read from the raw path, any segment, split at ';'; the
// last occurrence wins. "/share/x;jsessionid=ABC.tomcat1" gives
// "ABC.tomcat1".
func PathParam(raw, name string) (string, bool) {
	var val string
	found := false
	for i := strings.IndexByte(raw, ';'); i >= 0; {
		end := len(raw)
		if j := strings.IndexAny(raw[i+1:], ";/"); j >= 0 {
			end = i + 1 + j
		}
		param := raw[i+1 : end]
		if k, v, ok := strings.Cut(param, "="); ok && k == name {
			val, found = v, true
		}
		if end >= len(raw) {
			break
		}
		next := strings.IndexByte(raw[end:], ';')
		if next < 0 {
			break
		}
		i = end + next
	}
	return val, found
}

// Normalize returns the path Tomcat serves for a raw request path: path
// parameters removed, percent-decoded once, slashes merged, "." and ".."
// resolved. It follows Tomcat 10.1's CoyoteAdapter with its defaults
// (encoded "/" and "\" rejected); an error wrapping ErrInvalid means Tomcat
// answers 400.
func Normalize(raw string) (string, error) {
	if raw == "" || raw[0] != '/' {
		return "", fmt.Errorf("%w: does not start with /", ErrInvalid)
	}
	p := StripParams(raw)
	if isNormal(p) {
		return p, nil // the common case: nothing to decode or resolve
	}
	return normalize(p)
}

// normalize is Normalize's full reading of a path without parameters.
func normalize(p string) (string, error) {
	if strings.Contains(strings.ToLower(p), "%2f") {
		return "", fmt.Errorf("%w: encoded slash", ErrInvalid)
	}
	dec, ok := decode(p)
	if !ok {
		return "", fmt.Errorf("%w: bad percent-encoding", ErrInvalid)
	}
	if strings.ContainsAny(dec, "\\\x00") {
		return "", fmt.Errorf("%w: backslash or NUL", ErrInvalid)
	}
	var out []string
	for _, seg := range strings.Split(dec, "/")[1:] {
		switch seg {
		case "", ".":
			continue
		case "..":
			if len(out) == 0 {
				return "", fmt.Errorf("%w: .. above the root", ErrInvalid)
			}
			out = out[:len(out)-1]
		default:
			out = append(out, seg)
		}
	}
	res := "/" + strings.Join(out, "/")
	// a trailing slash, or a trailing "." or "..", leaves the path a directory
	if len(out) > 0 && (strings.HasSuffix(dec, "/") || strings.HasSuffix(dec, "/.") || strings.HasSuffix(dec, "/..")) {
		res += "/"
	}
	return res, nil
}

// isNormal reports whether Normalize would return p (an absolute path
// without path parameters) unchanged: nothing to decode, reject, merge or
// resolve. It lets the common path through without allocating.
func isNormal(p string) bool {
	if strings.ContainsAny(p, "%\\\x00") {
		return false
	}
	for i := 1; i <= len(p); {
		j := strings.IndexByte(p[i:], '/')
		if j < 0 {
			j = len(p) - i
		}
		switch seg := p[i : i+j]; seg {
		case ".", "..":
			return false
		case "":
			if i+j < len(p) {
				return false // "//": merged
			}
		}
		i += j + 1
	}
	return true
}

// decode percent-decodes s once; ok is false for a malformed escape.
func decode(s string) (string, bool) {
	dec, err := url.PathUnescape(s)
	return dec, err == nil
}

package manager

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// The page's changes are plain HTML form POSTs made by a browser that
// holds the page's credentials (basic_auth), so another site could make
// that browser post a change. Three checks, each enough on its own against
// a cross-site form, together against what one of them misses:
//
//   - a token in each form: an HMAC, under a random key of this process, of
//     a random session id that a SameSite=Strict, HttpOnly cookie holds.
//     Another site can neither read the page (so not the token) nor make
//     the browser send the cookie with its own POST;
//   - the browser's own word: Sec-Fetch-Site, when sent, must be
//     same-origin (or none: typed or bookmarked);
//   - Origin, or else Referer, when sent, must be the request's own scheme
//     and host.
//
// The key lives as long as the process (across reloads): after a restart a
// page loaded before it gets 403 once, and a reload of the page fixes it.
// Instances behind a load balancer that does not keep a client on one
// instance each need their own page address.

// sessionCookie names the cookie that holds the session id.
const sessionCookie = "ajp_manager_session"

// tokenKey is the per-process key of the tokens.
var tokenKey = func() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand, Go ≥ 1.24)
	return k
}()

func newSessionID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validSessionID: what newSessionID makes, and nothing else.
func validSessionID(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// token is the form token of a session.
func token(sessionID string) string {
	mac := hmac.New(sha256.New, tokenKey)
	mac.Write([]byte("ajp_manager form\x00"))
	mac.Write([]byte(sessionID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// session returns the request's session id, setting a new cookie when it
// has none (or a malformed one). path is the page's path.
func session(w http.ResponseWriter, r *http.Request, path string) string {
	if c, err := r.Cookie(sessionCookie); err == nil && validSessionID(c.Value) {
		return c.Value
	}
	id := newSessionID()
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     cookiePath(path),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	return id
}

// cookiePath covers the page's path with and without a trailing slash.
func cookiePath(path string) string {
	if p := strings.TrimSuffix(path, "/"); p != "" {
		return p
	}
	return "/"
}

// checkPost refuses a POST that another site may have made: the reason,
// or nil.
func checkPost(r *http.Request) error {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return errors.New("Sec-Fetch-Site is " + r.Header.Get("Sec-Fetch-Site"))
	}
	self := "http://" + r.Host
	if r.TLS != nil {
		self = "https://" + r.Host
	}
	if o := r.Header.Get("Origin"); o != "" {
		if !strings.EqualFold(o, self) {
			return errors.New("Origin " + o + " is not " + self)
		}
	} else if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		if err != nil || !strings.EqualFold(u.Scheme+"://"+u.Host, self) {
			return errors.New("Referer is not from " + self)
		}
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || !validSessionID(c.Value) {
		return errors.New("no session cookie")
	}
	got := r.PostForm.Get("token")
	if !hmac.Equal([]byte(got), []byte(token(c.Value))) {
		return errors.New("missing or wrong form token")
	}
	return nil
}

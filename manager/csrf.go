package manager

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/certmagic"
)

// The page's changes are plain HTML form POSTs made by a browser that
// holds the page's credentials (basic_auth), so another site could make
// that browser post a change. Three checks, each enough on its own against
// a cross-site form, together against what one of them misses:
//
//   - a token in each form: an HMAC, under a random key kept in Caddy's
//     storage, of a random session id that a SameSite=Strict, HttpOnly cookie holds.
//     Another site can neither read the page (so not the token) nor make
//     the browser send the cookie with its own POST;
//   - the browser's own word: Sec-Fetch-Site, when sent, must be
//     same-origin (or none: typed or bookmarked);
//   - Origin, or else Referer, when sent, must be the request's own scheme
//     and host.
//
// The key is made once and kept in Caddy's storage (formKeyName), so a page
// stays valid across reloads and restarts, and instances that share the
// storage accept each other's tokens (behind a load balancer that does not
// keep a client on one instance). Only when the storage cannot be read or
// written does a process keep a key of its own (logged at WARN).

// sessionCookie names the cookie that holds the session id.
const sessionCookie = "ajp_manager_session"

// formKeyName is where the key of the form tokens lives in Caddy's storage.
const formKeyName = "ajp/manager/form_key"

// formKeyLen is the key's length in bytes.
const formKeyLen = 32

// loadFormKey returns the key of the form tokens kept in st, making and
// storing one when there is none (or a malformed one). It holds the
// storage's lock meanwhile, so instances starting together agree on one.
func loadFormKey(ctx context.Context, st certmagic.Storage) ([]byte, error) {
	if err := st.Lock(ctx, formKeyName); err != nil {
		return nil, err
	}
	defer st.Unlock(context.WithoutCancel(ctx), formKeyName) //nolint:errcheck // a stale lock expires
	k, err := st.Load(ctx, formKeyName)
	if err == nil && len(k) == formKeyLen {
		return k, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k = make([]byte, formKeyLen)
	rand.Read(k) // never fails (crypto/rand, Go ≥ 1.24)
	if err := st.Store(ctx, formKeyName, k); err != nil {
		return nil, err
	}
	return k, nil
}

// tokenKey is the key of a process whose storage failed it (and of a page
// not provisioned, in tests).
var tokenKey = func() []byte {
	k := make([]byte, formKeyLen)
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

// token is the form token of a session under key.
func token(key []byte, sessionID string) string {
	mac := hmac.New(sha256.New, key)
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
func checkPost(r *http.Request, key []byte) error {
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
	if !hmac.Equal([]byte(got), []byte(token(key, c.Value))) {
		return errors.New("missing or wrong form token")
	}
	return nil
}

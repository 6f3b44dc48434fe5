package manager

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

func TestFormKeyIsMadeOnceAndKeptInStorage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := &certmagic.FileStorage{Path: dir}
	k1, err := loadFormKey(ctx, st)
	if err != nil || len(k1) != formKeyLen {
		t.Fatalf("first: %x, %v", k1, err)
	}
	k2, err := loadFormKey(ctx, &certmagic.FileStorage{Path: dir}) // another instance, same storage
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load: %x, %v; want %x", k2, err, k1)
	}
	other, err := loadFormKey(ctx, &certmagic.FileStorage{Path: t.TempDir()})
	if err != nil || bytes.Equal(other, k1) {
		t.Fatalf("another storage: %x, %v", other, err)
	}
	// a malformed key is replaced, not used
	if err := st.Store(ctx, formKeyName, []byte("short")); err != nil {
		t.Fatal(err)
	}
	k3, err := loadFormKey(ctx, st)
	if err != nil || len(k3) != formKeyLen || bytes.Equal(k3, k1) {
		t.Fatalf("after a malformed key: %x, %v", k3, err)
	}
	if stored, _ := st.Load(ctx, formKeyName); !bytes.Equal(stored, k3) {
		t.Errorf("stored %x, handed out %x", stored, k3)
	}
}

// Two front ends that share the storage: a page served by one is accepted
// by the other; a front end with another storage refuses it.
func TestPagesSharingStorageAcceptEachOthersTokens(t *testing.T) {
	_, ms := joinPageTest(t)
	ctx := context.Background()
	shared := t.TempDir()
	key := func(dir string) []byte {
		k, err := loadFormKey(ctx, &certmagic.FileStorage{Path: dir})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := &Page{logger: zap.NewNop(), key: key(shared)}
	b := &Page{logger: zap.NewNop(), key: key(shared)}
	c := &Page{logger: zap.NewNop(), key: key(t.TempDir())}
	cookie, tok, _ := openPage(t, a)
	post := func(p *Page, status string) int {
		r := pageRequest("POST", "/balancer-manager", "admin", url.Values{
			"balancer": {"page-test"}, "route": {"tomcat1"}, "status": {status}, "token": {tok}})
		r.AddCookie(cookie)
		r.Header.Set("Origin", pageOrigin)
		return serve(t, p, r).Code
	}
	if code := post(c, "stop"); code != http.StatusForbidden || ms[0].Status() != "active" {
		t.Errorf("front end with another storage: %d, tomcat1 %s; want 403, active", code, ms[0].Status())
	}
	if code := post(b, "drain"); code != http.StatusSeeOther || ms[0].Status() != "drain" {
		t.Errorf("front end sharing the storage: %d, tomcat1 %s; want 303, drain", code, ms[0].Status())
	}
}

// Provision takes the key from the configuration's storage.
func TestProvisionTakesTheKeyFromCaddysStorage(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"admin": {"disabled": true},
		"storage": {"module": "file_system", "root": "` + filepath.ToSlash(dir) + `"},
		"apps": {"http": {"servers": {"m": {"listen": ["127.0.0.1:0"], "automatic_https": {"disable": true},
			"routes": [{"handle": [{"handler": "ajp_manager"}]}]}}}}}`
	if err := caddy.Load([]byte(cfg), true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	k, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(formKeyName)))
	if err != nil || len(k) != formKeyLen {
		t.Fatalf("key in storage: %x, %v", k, err)
	}
	if bytes.Equal(k, tokenKey) {
		t.Error("the stored key is the process's fallback key")
	}
	// the page's tokens are made with it
	joinPageTest(t) // a balancer, so the page has forms
	app, err := caddy.ActiveContext().App("http")
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	app.(*caddyhttp.App).Servers["m"].ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1/balancer-manager", nil))
	m := tokenField.FindStringSubmatch(w.Body.String())
	cookies := w.Result().Cookies()
	if m == nil || len(cookies) != 1 {
		t.Fatalf("GET: %d, cookies %v\n%s", w.Code, cookies, w.Body)
	}
	if m[1] != token(k, cookies[0].Value) {
		t.Error("the page's token is not made with the stored key")
	}
}

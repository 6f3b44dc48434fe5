package harness

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestTail(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc\n\n\n", 1, "c"},
		{"a\nb", 5, "a\nb"},
		{"", 3, ""},
	} {
		if got := Tail(c.in, c.n); got != c.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestFreePortCanBeListenedOn(t *testing.T) {
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatalf("port %d is not free: %v", p, err)
	}
	l.Close()
}

func TestWaitHTTPReturnsTheFirstAnswerWithoutFollowingRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "probe")
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	h, err := WaitHTTP(context.Background(), srv.URL+"/ready", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Server") != "probe" || h.Get("Location") != "/elsewhere" {
		t.Errorf("header %v: want the redirect itself", h)
	}
}

func TestWaitHTTPStopsWhenTheProcessExits(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	close(exited)
	_, err = WaitHTTP(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port)+"/", exited, time.Minute)
	if !errors.Is(err, ErrExited) {
		t.Fatalf("err = %v, want ErrExited (a minute's timeout would give another error)", err)
	}
}

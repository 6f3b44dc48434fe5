package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// echo is what echo.jsp reports about the request the servlet saw.
type echo struct {
	Method      string              `json:"method"`
	RequestURI  string              `json:"requestURI"`
	QueryString *string             `json:"queryString"`
	Protocol    string              `json:"protocol"`
	Scheme      string              `json:"scheme"`
	Secure      bool                `json:"secure"`
	ServerName  string              `json:"serverName"`
	ServerPort  int                 `json:"serverPort"`
	RemoteAddr  string              `json:"remoteAddr"`
	RemoteHost  string              `json:"remoteHost"`
	RemoteUser  *string             `json:"remoteUser"`
	AuthType    *string             `json:"authType"`
	RemotePort  int                 `json:"remotePort"`
	LocalAddr   string              `json:"localAddr"`
	ContentLen  int64               `json:"contentLength"`
	Headers     map[string][]string `json:"headers"`
	Attributes  map[string]any      `json:"attributes"`
	BodyLength  int64               `json:"bodyLength"`
	BodySHA256  string              `json:"bodySHA256"`
	Token       *string             `json:"token"`
}

const basicSite = `
http://127.0.0.1:{HTTP_PORT} {
	reverse_proxy {AJP} {
		transport ajp {
			secret {env.AJP_TEST_SECRET}
		}
	}
}
`

// header returns the values of a request header as the servlet saw it,
// whatever the case of its name.
func (e echo) header(name string) []string {
	for k, v := range e.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// do sends req and reads the whole response body, failing the test if
// either goes wrong.
func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, body
}

func doEcho(t *testing.T, c *http.Client, req *http.Request) (echo, *http.Response) {
	t.Helper()
	resp, body := do(t, c, req)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: status %d: %s", req.Method, req.URL, resp.StatusCode, body)
	}
	var e echo
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decoding echo: %v: %s", err, body)
	}
	return e, resp
}

func TestEveryMethodReachesTheServlet(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	methods := []string{"GET", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "PROPPATCH",
		"MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "ACL", "REPORT", "VERSION-CONTROL", "CHECKIN",
		"CHECKOUT", "UNCHECKOUT", "SEARCH", "MKWORKSPACE", "UPDATE", "LABEL", "MERGE",
		"BASELINE-CONTROL", "MKACTIVITY", "PATCH", "PURGE", "X-CUSTOM"}
	for _, m := range methods {
		req, _ := http.NewRequest(m, httpBase+"/share/echo.jsp", nil)
		e, _ := doEcho(t, tc.Client, req)
		if e.Method != m {
			t.Errorf("sent %s, servlet saw %q", m, e.Method)
		}
	}
	// HEAD has no body to decode; the status and headers must arrive.
	req, _ := http.NewRequest("HEAD", httpBase+"/share/echo.jsp", nil)
	resp, err := tc.Client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestRequestBodiesArriveByteExact(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	sizes := map[string]int{"empty": 0, "1MiB fixed": 1 << 20, "one byte": 1, "packet edge": 8186, "packet edge+1": 8187}
	for name, n := range sizes {
		t.Run(name, func(t *testing.T) {
			body := pattern(n)
			req, _ := http.NewRequest("POST", httpBase+"/share/echo.jsp", bytes.NewReader(body))
			req.ContentLength = int64(n)
			e, _ := doEcho(t, tc.Client, req)
			if e.BodyLength != int64(n) || e.BodySHA256 != sha(body) {
				t.Errorf("servlet got %d bytes (sha %s), sent %d (sha %s)", e.BodyLength, e.BodySHA256, n, sha(body))
			}
			if e.ContentLen != int64(n) && !(n == 0 && e.ContentLen <= 0) {
				t.Errorf("servlet saw Content-Length %d, sent %d", e.ContentLen, n)
			}
		})
	}
	t.Run("300KiB chunked", func(t *testing.T) {
		body := pattern(300 << 10)
		// io.MultiReader hides the length, so the client sends it chunked.
		req, _ := http.NewRequest("POST", httpBase+"/share/echo.jsp", io.MultiReader(bytes.NewReader(body)))
		e, _ := doEcho(t, tc.Client, req)
		if e.BodyLength != int64(len(body)) || e.BodySHA256 != sha(body) {
			t.Errorf("servlet got %d bytes, sent %d chunked", e.BodyLength, len(body))
		}
		if e.ContentLen != -1 {
			t.Errorf("chunked body: servlet saw Content-Length %d, want -1", e.ContentLen)
		}
	})
}

func TestLargeResponseArrivesByteExact(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	for _, chunked := range []string{"", "&chunked=1"} {
		resp, err := tc.Client.Get(httpBase + "/share/bytes.jsp?n=10485760&seed=7" + chunked)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 10<<20)
		for i := range want {
			want[i] = byte(i*31 + 7)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("10 MiB response%s differs: got %d bytes", chunked, len(got))
		}
		if chunked == "" && resp.ContentLength != 10<<20 {
			t.Errorf("Tomcat's Content-Length not kept: %d", resp.ContentLength)
		}
	}
}

func TestQueryStringsAreForwardedEncoded(t *testing.T) {
	tc := loadCaddyfile(t, basicSite)
	for _, q := range []string{"a=1&b=2", "x=%20%2B%26%3D", "q=%C3%A9t%C3%A9", "flag", "a=1&a=2;b"} {
		req, _ := http.NewRequest("GET", httpBase+"/share/echo.jsp?"+q, nil)
		e, _ := doEcho(t, tc.Client, req)
		if e.QueryString == nil || *e.QueryString != q {
			t.Errorf("query %q arrived as %v", q, e.QueryString)
		}
	}
	req, _ := http.NewRequest("GET", httpBase+"/share/echo.jsp", nil)
	if e, _ := doEcho(t, tc.Client, req); e.QueryString != nil {
		t.Errorf("no query, servlet saw %q", *e.QueryString)
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

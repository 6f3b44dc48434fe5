package manager

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-ajp/caddy-ajp/balancer"
)

func call(t *testing.T, a *AdminAPI, method, path, body string) (*httptest.ResponseRecorder, int) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	err := a.serve(w, req)
	var ae caddy.APIError
	switch {
	case err == nil:
		return w, http.StatusOK
	case errors.As(err, &ae):
		return w, ae.HTTPStatus
	}
	t.Fatalf("%s %s: %v", method, path, err)
	return nil, 0
}

func TestAdminAPI(t *testing.T) {
	balancer.UseStorage(&certmagic.FileStorage{Path: t.TempDir()}, zap.NewNop())
	b, ms := balancer.Join("api-test", []balancer.MemberConfig{
		{Route: "tomcat1", Upstream: "127.0.0.1:8010"},
		{Route: "tomcat2", Upstream: "127.0.0.1:8011"},
	}, balancer.JoinOptions{})
	defer b.Leave()
	core, logs := observer.New(zapcore.DebugLevel)
	a := &AdminAPI{logger: zap.New(core)}

	w, code := call(t, a, "GET", "/ajp/balancers", "")
	var all []BalancerView
	if code != 200 || json.Unmarshal(w.Body.Bytes(), &all) != nil {
		t.Fatalf("GET list: %d %s", code, w.Body)
	}
	found := false
	for _, v := range all {
		found = found || v.Name == "api-test" && len(v.Members) == 2 && v.Members[0].Status == "active" && v.Members[0].Override == nil
	}
	if !found {
		t.Fatalf("list lacks api-test with two active members: %s", w.Body)
	}

	w, code = call(t, a, "POST", "/ajp/balancers/api-test/members/tomcat1", `{"status": "drain", "loadfactor": 5}`)
	var mv MemberView
	if code != 200 || json.Unmarshal(w.Body.Bytes(), &mv) != nil || mv.Status != "drain" || mv.Loadfactor != 5 ||
		mv.Override == nil || *mv.Override.Status != "drain" || mv.ConfigStatus != "active" {
		t.Fatalf("POST drain: %d %s", code, w.Body)
	}
	if ms[0].Status() != balancer.StatusDrain {
		t.Error("the drain is not in force")
	}
	l := logs.FilterMessage("balancer member changed").All()
	if len(l) != 1 || l[0].ContextMap()["by"] != "admin API 127.0.0.1:40000" || l[0].ContextMap()["status_before"] != "active" || l[0].ContextMap()["status_after"] != "drain" {
		t.Errorf("INFO line: %v", logs.All())
	}

	w, code = call(t, a, "POST", "/ajp/balancers/api-test/members/tomcat1", `{"status": null}`)
	if code != 200 || ms[0].Status() != balancer.StatusActive || ms[0].Weight() != 5 {
		t.Fatalf("POST status null: %d %s", code, w.Body)
	}

	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/ajp/balancers/nope", "", 404},
		{"POST", "/ajp/balancers/nope/members/tomcat1", `{"status":"drain"}`, 404},
		{"POST", "/ajp/balancers/api-test/members/tomcat9", `{"status":"drain"}`, 404},
		{"POST", "/ajp/balancers/api-test/members/tomcat2", `{"status":"paused"}`, 400},
		{"POST", "/ajp/balancers/api-test/members/tomcat2", `{"status":"drain"`, 400},
		{"POST", "/ajp/balancers/api-test/members/tomcat2", `{"loadfactor":0}`, 400},
		{"POST", "/ajp/balancers/api-test/members/tomcat2", `{"loadfactor":"5"}`, 400},
		{"POST", "/ajp/balancers/api-test/members/tomcat2", `{"weight":5}`, 400},
		{"POST", "/ajp/balancers/api-test/members/tomcat2", `{}`, 400},
		{"DELETE", "/ajp/balancers/api-test", "", 405},
		{"GET", "/ajp/balancers/api-test/members/tomcat2", "", 405},
	} {
		w, code := call(t, a, c.method, c.path, c.body)
		if code != c.code {
			t.Errorf("%s %s %s: %d, want %d (%s)", c.method, c.path, c.body, code, c.code, w.Body)
		}
	}
	if ms[1].Override() != nil || ms[1].Status() != balancer.StatusActive {
		t.Error("refused requests changed tomcat2")
	}
}

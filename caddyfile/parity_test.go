package caddyfile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/caddy-ajp/caddy-ajp/ajptransport"
	"github.com/caddy-ajp/caddy-ajp/stickyroute"
)

// parityCase is one value written both ways: as Caddyfile lines and as the
// module's JSON.
type parityCase struct {
	name string
	form func(string) string // wraps the lines into a whole Caddyfile
	// the Caddyfile lines; the first is line 4 for transportForm, 7 for
	// policyForm, 3 for balancerForm
	lines string
	json  string // the module's JSON
	ok    bool
	line  int // for a refusal, the line the Caddyfile error must name
}

func transportForm(lines string) string {
	return "example.com {\n\treverse_proxy 127.0.0.1:8010 127.0.0.1:8011 {\n\t\ttransport ajp {\n" + lines + "\t\t}\n\t}\n}\n"
}

func policyForm(lines string) string {
	return "example.com {\n\treverse_proxy 127.0.0.1:8010 127.0.0.1:8011 {\n" + ajp + "\t\tlb_policy sticky_route {\n" + lines + "\t\t}\n\t}\n}\n"
}

func balancerForm(lines string) string { return balancer(lines + secret) }

var parityCases = []parityCase{
	// packet_size bounds; 0 is the default in both (JSON cannot tell it from absent)
	{"packet_size 0", transportForm, "\t\t\tsecret s\n\t\t\tpacket_size 0\n", `{"secret":"s","packet_size":0}`, true, 0},
	{"packet_size 8191", transportForm, "\t\t\tsecret s\n\t\t\tpacket_size 8191\n", `{"secret":"s","packet_size":8191}`, false, 5},
	{"packet_size 8192", transportForm, "\t\t\tsecret s\n\t\t\tpacket_size 8192\n", `{"secret":"s","packet_size":8192}`, true, 0},
	{"packet_size 65536", transportForm, "\t\t\tsecret s\n\t\t\tpacket_size 65536\n", `{"secret":"s","packet_size":65536}`, true, 0},
	{"packet_size 65537", transportForm, "\t\t\tsecret s\n\t\t\tpacket_size 65537\n", `{"secret":"s","packet_size":65537}`, false, 5},
	{"packet_size -1", transportForm, "\t\t\tsecret s\n\t\t\tpacket_size -1\n", `{"secret":"s","packet_size":-1}`, false, 5},
	{"balancer packet_size 8191", balancerForm, m1 + "\t\tpacket_size 8191\n", `{"secret":"s3cret","packet_size":8191}`, false, 4},
	// durations: 0 is the default, negative refused
	{"dial_timeout 0", transportForm, "\t\t\tsecret s\n\t\t\tdial_timeout 0\n", `{"secret":"s","dial_timeout":0}`, true, 0},
	{"dial_timeout -1s", transportForm, "\t\t\tsecret s\n\t\t\tdial_timeout -1s\n", `{"secret":"s","dial_timeout":-1000000000}`, false, 5},
	{"read_timeout -1ns", transportForm, "\t\t\tsecret s\n\t\t\tread_timeout -1ns\n", `{"secret":"s","read_timeout":-1}`, false, 5},
	{"idle_timeout 30s", transportForm, "\t\t\tsecret s\n\t\t\tidle_timeout 30s\n", `{"secret":"s","idle_timeout":"30s"}`, true, 0},
	{"ping_after -5s", transportForm, "\t\t\tsecret s\n\t\t\tping_after -5s\n", `{"secret":"s","ping_after":"-5s"}`, false, 5},
	{"member connectiontimeout=0", balancerForm, "\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 connectiontimeout=0\n", `{"secret":"s3cret","dial_timeout":0}`, true, 0},
	{"member ping=-2", balancerForm, "\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 ping=-2\n", `{"secret":"s3cret","ping_timeout":"-2s"}`, false, 3},
	// max_conns_per_host
	{"max_conns_per_host 0", transportForm, "\t\t\tsecret s\n\t\t\tmax_conns_per_host 0\n", `{"secret":"s","max_conns_per_host":0}`, true, 0},
	{"max_conns_per_host 50", transportForm, "\t\t\tsecret s\n\t\t\tmax_conns_per_host 50\n", `{"secret":"s","max_conns_per_host":50}`, true, 0},
	{"max_conns_per_host -1", transportForm, "\t\t\tsecret s\n\t\t\tmax_conns_per_host -1\n", `{"secret":"s","max_conns_per_host":-1}`, false, 5},
	{"member max=-1", balancerForm, "\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 max=-1\n", `{"secret":"s3cret","max_conns_per_host":-1}`, false, 3},
	// secret vs insecure_no_secret
	{"secret", transportForm, "\t\t\tsecret s\n", `{"secret":"s"}`, true, 0},
	{"no secret", transportForm, "\t\t\tdial_timeout 1s\n", `{"dial_timeout":"1s"}`, false, 3},
	{"insecure_no_secret", transportForm, "\t\t\tinsecure_no_secret\n", `{"insecure_no_secret":true}`, true, 0},
	{"secret and insecure_no_secret", transportForm, "\t\t\tsecret s\n\t\t\tinsecure_no_secret\n", `{"secret":"s","insecure_no_secret":true}`, false, 5},
	// Ghostcat attribute names
	{"attribute tenant", transportForm, "\t\t\tsecret s\n\t\t\trequest_attribute tenant a\n", `{"secret":"s","request_attributes":[{"name":"tenant","value":"a"}]}`, true, 0},
	{"attribute javax include", transportForm, "\t\t\tsecret s\n\t\t\trequest_attribute tenant a\n\t\t\trequest_attribute javax.servlet.include.request_uri /x\n",
		`{"secret":"s","request_attributes":[{"name":"tenant","value":"a"},{"name":"javax.servlet.include.request_uri","value":"/x"}]}`, false, 6},
	{"attribute Jakarta forward", transportForm, "\t\t\tsecret s\n\t\t\trequest_attribute Jakarta.Servlet.Forward.path_info /x\n",
		`{"secret":"s","request_attributes":[{"name":"Jakarta.Servlet.Forward.path_info","value":"/x"}]}`, false, 5},
	{"attribute empty name", transportForm, "\t\t\tsecret s\n\t\t\trequest_attribute \"\" x\n", `{"secret":"s","request_attributes":[{"name":"","value":"x"}]}`, false, 5},
	// weights (loadfactor) 1–100
	{"weight 0", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tweight 0\n\t\t\t}\n", `{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010","weight":0}]}`, false, 8},
	{"weight 1", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tweight 1\n\t\t\t}\n", `{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010","weight":1}]}`, true, 0},
	{"weight 100", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tweight 100\n\t\t\t}\n", `{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010","weight":100}]}`, true, 0},
	{"weight 101", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tweight 101\n\t\t\t}\n", `{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010","weight":101}]}`, false, 8},
	{"loadfactor=0", balancerForm, m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 loadfactor=0\n", `{"routes":[{"name":"tomcat2","upstream":"127.0.0.1:8011","weight":0}]}`, false, 4},
	{"loadfactor=100", balancerForm, m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 loadfactor=100\n", `{"routes":[{"name":"tomcat2","upstream":"127.0.0.1:8011","weight":100}]}`, true, 0},
	{"loadfactor=101", balancerForm, m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 loadfactor=101\n", `{"routes":[{"name":"tomcat2","upstream":"127.0.0.1:8011","weight":101}]}`, false, 4},
	{"weights and a fallback", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tweight 2\n\t\t\t}\n\t\t\tfallback first\n",
		`{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010","weight":2}],"fallback":{"policy":"first"}}`, false, 10},
	// member status values
	{"status active", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tstatus active\n\t\t\t}\n", `{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010","status":"active"}]}`, true, 0},
	{"status drain", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tstatus drain\n\t\t\t}\n", `{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010","status":"drain"}]}`, true, 0},
	{"status standby", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tstatus standby\n\t\t\t}\n", `{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010","status":"standby"}]}`, true, 0},
	{"status hot", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tstatus hot\n\t\t\t}\n", `{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010","status":"hot"}]}`, false, 8},
	{"status=+D", balancerForm, m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 status=+D\n", `{"routes":[{"name":"tomcat2","upstream":"127.0.0.1:8011","status":"disabled"}]}`, true, 0},
	// redirect and duplicates
	{"redirect known", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010\n\t\t\troute tomcat2 127.0.0.1:8011 {\n\t\t\t\tredirect tomcat1\n\t\t\t}\n",
		`{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010"},{"name":"tomcat2","upstream":"127.0.0.1:8011","redirect":"tomcat1"}]}`, true, 0},
	{"redirect unknown", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010\n\t\t\troute tomcat2 127.0.0.1:8011 {\n\t\t\t\tredirect tomcat9\n\t\t\t}\n",
		`{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010"},{"name":"tomcat2","upstream":"127.0.0.1:8011","redirect":"tomcat9"}]}`, false, 9},
	{"member redirect unknown", balancerForm, m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 redirect=tomcat9\n",
		`{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010"},{"name":"tomcat2","upstream":"127.0.0.1:8011","redirect":"tomcat9"}]}`, false, 4},
	{"route twice", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010\n\t\t\troute tomcat1 127.0.0.1:8011\n",
		`{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010"},{"name":"tomcat1","upstream":"127.0.0.1:8011"}]}`, false, 8},
	{"member route twice", balancerForm, m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat1\n",
		`{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010"},{"name":"tomcat1","upstream":"127.0.0.1:8011"}]}`, false, 4},
	{"two routes one upstream", policyForm, "\t\t\troute tomcat1 127.0.0.1:8010\n\t\t\troute tomcat2 127.0.0.1:8010\n",
		`{"routes":[{"name":"tomcat1","upstream":"127.0.0.1:8010"},{"name":"tomcat2","upstream":"127.0.0.1:8010"}]}`, false, 8},
}

// TestCaddyfileAndJSONAcceptTheSameValues: for each rule and value, the
// Caddyfile form (adapted, then the module it adapts to provisioned) and
// the JSON form (unmarshalled and provisioned) both accept or both refuse,
// and a Caddyfile refusal comes at adapt time naming the line.
func TestCaddyfileAndJSONAcceptTheSameValues(t *testing.T) {
	for _, tc := range parityCases {
		t.Run(tc.name, func(t *testing.T) {
			caddyfile := tc.form(tc.lines)
			module := "transport"
			if strings.Contains(tc.json, "routes") || strings.Contains(tc.json, "fallback") {
				module = "selection_policy"
			}
			cfErr := adaptAndProvision(t, caddyfile, module)
			jsonErr := provisionJSON(t, module, []byte(tc.json))
			if (cfErr == nil) != (jsonErr == nil) {
				t.Fatalf("Caddyfile and JSON disagree:\n\tCaddyfile: %v\n\tJSON:      %v\n%s", cfErr, jsonErr, numbered(caddyfile))
			}
			if (cfErr == nil) != tc.ok {
				t.Fatalf("both say %v, want ok=%v\n%s", cfErr, tc.ok, numbered(caddyfile))
			}
			if !tc.ok && !strings.Contains(cfErr.Error(), fmt.Sprintf("%s:%d", errorFile, tc.line)) {
				t.Errorf("the Caddyfile error does not name %s:%d: %v\n%s", errorFile, tc.line, cfErr, numbered(caddyfile))
			}
		})
	}
}

// adaptAndProvision adapts a Caddyfile and provisions the module of the
// kind given ("transport" or "selection_policy") it adapts to.
func adaptAndProvision(t *testing.T, caddyfile, module string) error {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), map[string]any{"filename": errorFile})
	if err != nil {
		return err
	}
	var cfg any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	raw := findKey(cfg, module)
	if raw == nil {
		t.Fatalf("no %s in the adapted JSON:\n%s", module, out)
	}
	b, _ := json.Marshal(raw)
	if err := provisionJSON(t, module, b); err != nil {
		return fmt.Errorf("adapted, but refused at provisioning (the error cannot name a line): %w", err)
	}
	return nil
}

func findKey(v any, key string) any {
	switch v := v.(type) {
	case map[string]any:
		if found, ok := v[key]; ok {
			return found
		}
		for _, e := range v {
			if found := findKey(e, key); found != nil {
				return found
			}
		}
	case []any:
		for _, e := range v {
			if found := findKey(e, key); found != nil {
				return found
			}
		}
	}
	return nil
}

// provisionJSON unmarshals a module's JSON and provisions it, as Caddy
// does when it loads a config.
func provisionJSON(t *testing.T, module string, raw []byte) error {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	var m interface {
		Provision(caddy.Context) error
	}
	if module == "transport" {
		m = new(ajptransport.Transport)
	} else {
		m = new(stickyroute.StickyRoute)
	}
	if err := json.Unmarshal(raw, m); err != nil {
		return err
	}
	err := m.Provision(ctx)
	if c, ok := m.(caddy.CleanerUpper); ok {
		c.Cleanup()
	}
	return err
}

package caddyfile_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// errorFile is the name the bad Caddyfiles are adapted under: every error
// must name it with the line, as "errors.Caddyfile:<line>".
const errorFile = "errors.Caddyfile"

// badConfig is a Caddyfile the adapter must refuse, with where the mistake is.
type badConfig struct {
	name      string
	caddyfile string
	// lines where the mistake is: the error must say "<file>:<line>", or
	// "line <line>" / "lines <a> and <b>" (errors that compare two lines),
	// for one of them; for something missing from a block, its first or
	// closing line
	lines []int
	// words the error must quote or name
	words []string
}

// balancer wraps the body of an ajp_balancer block in a site; the block's
// first line is line 3.
func balancer(body string) string {
	return "example.com {\n\tajp_balancer /share* {\n" + body + "\t}\n}\n"
}

// proxy wraps the body of a reverse_proxy block with two upstreams in a
// site; the block's first line is line 3.
func proxy(body string) string {
	return "example.com {\n\treverse_proxy 127.0.0.1:8010 127.0.0.1:8011 {\n" + body + "\t}\n}\n"
}

const (
	m1     = "\t\tmember ajp://127.0.0.1:8010/share route=tomcat1\n"
	m2     = "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2\n"
	secret = "\t\tsecret s3cret\n"
	ajp    = "\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t}\n"
)

var badBalancers = []badConfig{
	// member parameters
	{"unknown member parameter keepalive", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 keepalive=On\n" + secret), []int{4}, []string{"keepalive"}},
	{"unknown member parameter lbset", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 lbset=1\n" + m2 + secret), []int{3}, []string{"lbset"}},
	{"unknown member parameter smax", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 smax=5\n" + secret), []int{3}, []string{"smax"}},
	{"member parameter without value", balancer("\t\tmember ajp://127.0.0.1:8010/share route=\n" + secret), []int{3}, []string{"route="}},
	{"member parameter without =", balancer("\t\tmember ajp://127.0.0.1:8010/share tomcat1\n" + secret), []int{3}, []string{"tomcat1"}},
	{"bad status flag +X", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 status=+X\n" + secret), []int{4}, []string{"+X"}},
	{"bad status flag +I (ignore-errors, unsupported)", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 status=+I\n" + secret), []int{4}, []string{"+I"}},
	{"bad status flag -X", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 status=-X\n" + secret), []int{4}, []string{"-X"}},
	{"bad status word", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 status=hot\n" + secret), []int{4}, []string{"hot"}},
	{"member without route= next to routed ones", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share status=+H\n" + secret), []int{4}, []string{"route=", "127.0.0.1:8011"}},
	{"http= on some members only", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 http=127.0.0.1:8080\n" + m2 + secret), []int{4}, []string{"http=", "127.0.0.1:8011"}},
	{"http= not host:port", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 http=tomcat1\n" + secret), []int{3}, []string{"http=tomcat1"}},
	{"http= port not a number", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 http=h:web\n" + secret), []int{3}, []string{"http=h:web"}},
	{"hcmethod unknown", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 hcmethod=TCP\n" + secret), []int{3}, []string{"hcmethod=TCP"}},
	{"hcmethod GET without hcuri", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 hcmethod=GET\n" + secret), []int{3}, []string{"hcuri"}},
	{"hcinterval 0", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 hcinterval=0\n" + secret), []int{3}, []string{"hcinterval=0"}},
	{"hcfails 0", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 hcfails=0\n" + secret), []int{3}, []string{"hcfails=0"}},
	{"hcinterval differs between members", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 hcinterval=1\n\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 hcinterval=2\n" + secret), []int{4}, []string{"hcinterval"}},
	{"name with a slash", balancer("\t\tname a/b\n" + m1 + secret), []int{3}, []string{"a/b"}},
	{"name twice in one Caddyfile", "example.com {\n\tajp_balancer /a* {\n\t\tname app\n" + m1 + secret + "\t}\n\tajp_balancer /b* {\n\t\tname app\n" + m2 + secret + "\t}\n}\n", []int{8}, []string{"app", "line 2"}},
	{"loadfactor 0", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 loadfactor=0\n" + secret), []int{4}, []string{"loadfactor=0"}},
	{"loadfactor 101", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 loadfactor=101\n" + secret), []int{4}, []string{"loadfactor", "101"}},
	{"loadfactor abc", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 loadfactor=abc\n" + secret), []int{4}, []string{"loadfactor", "abc"}},
	{"loadfactor with lbmethod bybusyness", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 loadfactor=2\n\t\tlbmethod bybusyness\n" + secret), []int{4, 5}, []string{"loadfactor", "bybusyness"}},
	{"loadfactor with lbmethod bytraffic", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 loadfactor=2\n\t\tlbmethod bytraffic\n" + secret), []int{4, 5}, []string{"loadfactor", "bytraffic"}},
	{"member without URL", balancer(m1 + "\t\tmember\n" + secret), []int{4}, []string{"member"}},
	{"member URL without host", balancer("\t\tmember /share route=tomcat1\n" + secret), []int{3}, []string{"/share"}},
	{"http member", balancer("\t\tmember http://127.0.0.1:8080/share route=tomcat1\n" + secret), []int{3}, []string{"http://127.0.0.1:8080/share"}},
	{"member with query", balancer("\t\tmember ajp://127.0.0.1:8010/share?x=1 route=tomcat1\n" + secret), []int{3}, []string{"?x=1"}},
	{"member with fragment", balancer("\t\tmember ajp://127.0.0.1:8010/share#top route=tomcat1\n" + secret), []int{3}, []string{"#top"}},
	{"member with user", balancer("\t\tmember ajp://bob@127.0.0.1:8010/share route=tomcat1\n" + secret), []int{3}, []string{"bob@"}},
	{"members with different paths", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/other route=tomcat2\n" + secret), []int{4}, []string{"/share", "/other"}},
	{"members with different timeout=", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 timeout=30\n\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 timeout=60\n" + secret), []int{3, 4}, []string{"timeout"}},
	{"members with different secret=", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 secret=a\n\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 secret=b\n"), []int{3, 4}, []string{"secret"}},
	{"member secret= differs from the balancer's", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 secret=a\n\t\tsecret b\n"), []int{3, 4}, []string{"secret"}},
	{"member ping=abc", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 ping=abc\n" + secret), []int{3}, []string{"ping", "abc"}},
	{"member timeout=-1", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 timeout=-1\n" + secret), []int{3}, []string{"timeout=-1", "negative"}},
	{"member max=-1", balancer("\t\tmember ajp://127.0.0.1:8010/share route=tomcat1 max=-1\n" + secret), []int{3}, []string{"max", "-1"}},
	{"two members with one route", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat1\n" + secret), []int{4}, []string{"tomcat1"}},
	{"two members with one address", balancer(m1 + "\t\tmember ajp://127.0.0.1:8010/share route=tomcat2\n" + secret), []int{4}, []string{"127.0.0.1:8010"}},
	{"redirect to an unknown route", balancer(m1 + "\t\tmember ajp://127.0.0.1:8011/share route=tomcat2 redirect=tomcat9\n" + secret), []int{4}, []string{"tomcat9"}},

	// balancer words
	{"no secret", balancer(m1 + m2), []int{2, 5}, []string{"secret"}},
	{"no members", balancer(secret), []int{2, 4}, []string{"member"}},
	{"arguments instead of members", "example.com {\n\tajp_balancer /share* ajp://127.0.0.1:8010/share {\n" + secret + "\t}\n}\n", []int{2}, []string{"ajp://127.0.0.1:8010/share"}},
	{"unknown lbmethod", balancer(m1 + "\t\tlbmethod heartbeat\n" + secret), []int{4}, []string{"heartbeat"}},
	{"lbmethod with two values", balancer(m1 + "\t\tlbmethod byrequests bybusyness\n" + secret), []int{4}, []string{"bybusyness"}},
	{"failonstatus not a code", balancer(m1 + "\t\tfailonstatus 500,abc\n" + secret), []int{4}, []string{"abc"}},
	{"failonstatus out of range", balancer(m1 + "\t\tfailonstatus 99\n" + secret), []int{4}, []string{"99"}},
	{"failonstatus without codes", balancer(m1 + "\t\tfailonstatus\n" + secret), []int{4}, []string{"failonstatus"}},
	{"transport inside ajp_balancer", balancer(m1 + secret + "\t\ttransport http\n"), []int{5}, []string{"transport"}},
	{"transport ajp block inside ajp_balancer", balancer(m1 + "\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t}\n"), []int{4}, []string{"transport"}},
	{"lb_policy inside ajp_balancer", balancer(m1 + secret + "\t\tlb_policy round_robin\n"), []int{5}, []string{"lb_policy"}},
	{"to inside ajp_balancer", balancer(m1 + secret + "\t\tto 127.0.0.1:9000\n"), []int{5}, []string{"to"}},
	{"dynamic inside ajp_balancer", balancer(m1 + secret + "\t\tdynamic a example.com\n"), []int{5}, []string{"dynamic"}},
	{"named matcher with a member path", "example.com {\n\t@app {\n\t\tpath /app*\n\t\tmethod GET\n\t}\n\tajp_balancer @app {\n" + m1 + secret + "\t}\n}\n", []int{2, 6}, []string{"/share", "@app"}},
	{"second path pattern", "example.com {\n\tajp_balancer /app* /other* {\n" + m1 + secret + "\t}\n}\n", []int{2}, []string{"/other*"}},
	{"non-prefix path pattern with a member path", "example.com {\n\tajp_balancer /app/*.jsp {\n" + m1 + secret + "\t}\n}\n", []int{2}, []string{"/app/*.jsp"}},
	{"stickysession |x", balancer(m1 + "\t\tstickysession |x\n" + secret), []int{4}, []string{"|x"}},
	{"stickysession x|", balancer(m1 + "\t\tstickysession JSESSIONID|\n" + secret), []int{4}, []string{"JSESSIONID|"}},
	{"stickysession with two values", balancer(m1 + "\t\tstickysession JSESSIONID jsessionid\n" + secret), []int{4}, []string{"stickysession"}},
	{"stickysessionsep without a value", balancer(m1 + "\t\tstickysessionsep\n" + secret), []int{4}, []string{"stickysessionsep"}},
	{"stickysessionsep with two values", balancer(m1 + "\t\tstickysessionsep . ~\n" + secret), []int{4}, []string{"~"}},
	{"nofailover maybe", balancer(m1 + "\t\tnofailover maybe\n" + secret), []int{4}, []string{"nofailover", "maybe"}},
	{"packet_size 100", balancer(m1 + "\t\tpacket_size 100\n" + secret), []int{4}, []string{"packet_size", "100"}},
	{"packet_size 70000", balancer(m1 + "\t\tpacket_size 70000\n" + secret), []int{4}, []string{"packet_size", "70000"}},
	{"packet_size abc", balancer(m1 + "\t\tpacket_size abc\n" + secret), []int{4}, []string{"packet_size", "abc"}},
	{"maxattempts abc", balancer(m1 + "\t\tmaxattempts abc\n" + secret), []int{4}, []string{"maxattempts", "abc"}},
	{"maxattempts -1", balancer(m1 + "\t\tmaxattempts -1\n" + secret), []int{4}, []string{"maxattempts", "-1"}},
	{"maxattempts with two values", balancer(m1 + "\t\tmaxattempts 1 2\n" + secret), []int{4}, []string{"2"}},
	{"timeout abc", balancer(m1 + "\t\ttimeout abc\n" + secret), []int{4}, []string{"timeout", "abc"}},
	{"timeout with two values", balancer(m1 + "\t\ttimeout 1 2\n" + secret), []int{4}, []string{"2"}},
	{"secret with two values", balancer(m1 + "\t\tsecret a b\n"), []int{4}, []string{"'b'"}},
	{"proxypassreverse maybe", balancer(m1 + secret + "\t\tproxypassreverse maybe\n"), []int{5}, []string{"proxypassreverse", "maybe"}},
	{"unknown reverse_proxy subdirective", "example.com {\n\tajp_balancer /share* {\n" + m1 + secret + "\t\tunknown_subdirective x\n\t}\n}\n", []int{5}, []string{"unknown_subdirective"}},
}

var badTransports = []badConfig{
	{"unknown option", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\tkeepalive on\n\t\t}\n"), []int{5}, []string{"keepalive"}},
	{"argument after ajp", proxy("\t\ttransport ajp extra {\n\t\t\tsecret s3cret\n\t\t}\n"), []int{3}, []string{"extra"}},
	{"secret without value", proxy("\t\ttransport ajp {\n\t\t\tsecret\n\t\t}\n"), []int{4}, []string{"secret"}},
	{"secret with two values", proxy("\t\ttransport ajp {\n\t\t\tsecret a b\n\t\t}\n"), []int{4}, []string{"'b'"}},
	{"insecure_no_secret with a value", proxy("\t\ttransport ajp {\n\t\t\tinsecure_no_secret yes\n\t\t}\n"), []int{4}, []string{"yes"}},
	{"secret and insecure_no_secret", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\tinsecure_no_secret\n\t\t}\n"), []int{4, 5}, []string{"insecure_no_secret"}},
	{"no secret", proxy("\t\ttransport ajp\n"), []int{3}, []string{"secret"}},
	{"packet_size 100", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\tpacket_size 100\n\t\t}\n"), []int{5}, []string{"packet_size", "100"}},
	{"packet_size abc", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\tpacket_size abc\n\t\t}\n"), []int{5}, []string{"packet_size", "abc"}},
	{"max_conns_per_host -1", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\tmax_conns_per_host -1\n\t\t}\n"), []int{5}, []string{"max_conns_per_host"}},
	{"dial_timeout abc", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\tdial_timeout abc\n\t\t}\n"), []int{5}, []string{"dial_timeout", "abc"}},
	{"read_timeout -5s", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\tread_timeout -5s\n\t\t}\n"), []int{5}, []string{"read_timeout"}},
	{"idle_timeout -1s", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\tidle_timeout -1s\n\t\t}\n"), []int{5}, []string{"idle_timeout"}},
	{"ping_timeout without value", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\tping_timeout\n\t\t}\n"), []int{5}, []string{"ping_timeout"}},
	{"ping_after with two values", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\tping_after 1s 2s\n\t\t}\n"), []int{5}, []string{"2s"}},
	{"request_attribute without value", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\trequest_attribute tenant\n\t\t}\n"), []int{5}, []string{"request_attribute"}},
	{"request_attribute Ghostcat name", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\trequest_attribute javax.servlet.include.request_uri /WEB-INF/web.xml\n\t\t}\n"), []int{5}, []string{"javax.servlet.include.request_uri"}},
	{"request_attribute Jakarta include name", proxy("\t\ttransport ajp {\n\t\t\tsecret s3cret\n\t\t\trequest_attribute jakarta.servlet.include.servlet_path /x\n\t\t}\n"), []int{5}, []string{"jakarta.servlet.include.servlet_path"}},
}

var badPolicies = []badConfig{
	{"sticky_route name with a space", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\tname \"a b\"\n\t\t\troute tomcat1 127.0.0.1:8010\n\t\t}\n"), []int{7}, []string{"a b"}},
	{"unknown option", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\tsticky on\n\t\t}\n"), []int{7}, []string{"sticky"}},
	{"argument after sticky_route", proxy(ajp + "\t\tlb_policy sticky_route JSESSIONID\n"), []int{6}, []string{"JSESSIONID"}},
	{"route without upstream", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1\n\t\t}\n"), []int{7}, []string{"route"}},
	{"route with three values", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010 extra\n\t\t}\n"), []int{7}, []string{"route"}},
	{"route status bogus", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tstatus hot\n\t\t\t}\n\t\t}\n"), []int{8}, []string{"hot"}},
	{"route weight 0", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tweight 0\n\t\t\t}\n\t\t}\n"), []int{8}, []string{"weight 0"}},
	{"route weight 101", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tweight 101\n\t\t\t}\n\t\t}\n"), []int{8}, []string{"weight 101"}},
	{"route weight abc", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tweight abc\n\t\t\t}\n\t\t}\n"), []int{8}, []string{"weight", "abc"}},
	{"route unknown sub-option", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tloadfactor 2\n\t\t\t}\n\t\t}\n"), []int{8}, []string{"loadfactor"}},
	{"route redirect without value", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tredirect\n\t\t\t}\n\t\t}\n"), []int{8}, []string{"redirect"}},
	{"route given twice", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010\n\t\t\troute tomcat1 127.0.0.1:8011\n\t\t}\n"), []int{8}, []string{"tomcat1"}},
	{"two routes for one upstream", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010\n\t\t\troute tomcat2 127.0.0.1:8010\n\t\t}\n"), []int{8}, []string{"tomcat1", "tomcat2", "127.0.0.1:8010"}},
	{"route redirect to an unknown route", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tredirect tomcat9\n\t\t\t}\n\t\t}\n"), []int{8}, []string{"tomcat9"}},
	{"cookie without name", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\tcookie\n\t\t}\n"), []int{7}, []string{"cookie"}},
	{"path_param with two names", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\tpath_param a b\n\t\t}\n"), []int{7}, []string{"'b'"}},
	{"separator without value", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\tseparator\n\t\t}\n"), []int{7}, []string{"separator"}},
	{"nofailover with a value", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\tnofailover on\n\t\t}\n"), []int{7}, []string{"on"}},
	{"fallback without policy", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\tfallback\n\t\t}\n"), []int{7}, []string{"fallback"}},
	{"fallback unknown policy", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\tfallback bogus_policy\n\t\t}\n"), []int{7}, []string{"bogus_policy"}},
	{"fallback twice", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\tfallback first\n\t\t\tfallback random\n\t\t}\n"), []int{8}, []string{"fallback"}},
	{"fallback with weights", proxy(ajp + "\t\tlb_policy sticky_route {\n\t\t\troute tomcat1 127.0.0.1:8010 {\n\t\t\t\tweight 2\n\t\t\t}\n\t\t\tfallback first\n\t\t}\n"), []int{8, 10}, []string{"weight", "fallback"}},
}

// TestBadConfigErrorsNameFileLineWord adapts bad Caddyfiles with the Caddyfile
// adapter and checks that each error names the file, the line and the
// offending word, so that a user can find the mistake.
func TestBadConfigErrorsNameFileLineWord(t *testing.T) {
	for _, group := range []struct {
		name  string
		cases []badConfig
	}{
		{"ajp_balancer", badBalancers},
		{"transport_ajp", badTransports},
		{"lb_policy_sticky_route", badPolicies},
	} {
		t.Run(group.name, func(t *testing.T) {
			for _, tc := range group.cases {
				t.Run(tc.name, func(t *testing.T) {
					checkAdaptError(t, tc)
				})
			}
		})
	}
}

func checkAdaptError(t *testing.T, tc badConfig) {
	t.Helper()
	_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(tc.caddyfile), map[string]any{"filename": errorFile})
	if err == nil {
		t.Fatalf("the adapter accepted this Caddyfile; want an error naming line %v and %q:\n%s", tc.lines, tc.words, numbered(tc.caddyfile))
	}
	msg := err.Error()
	var problems []string
	if !strings.Contains(msg, errorFile+":") {
		problems = append(problems, fmt.Sprintf("does not name the file %s", errorFile))
	}
	lineOK := false
	for _, l := range tc.lines {
		if strings.Contains(msg, fmt.Sprintf("%s:%d", errorFile, l)) || containsWord(msg, fmt.Sprintf("line %d", l)) ||
			containsWord(msg, fmt.Sprintf("lines %d", l)) || containsWord(msg, fmt.Sprintf(" and %d", l)) {
			lineOK = true
		}
	}
	if !lineOK {
		problems = append(problems, fmt.Sprintf("does not name line %s", joinInts(tc.lines, " or ")))
	}
	for _, w := range tc.words {
		if !strings.Contains(msg, w) {
			problems = append(problems, fmt.Sprintf("does not name %q", w))
		}
	}
	if len(problems) > 0 {
		t.Errorf("error %s:\n\t%s\nCaddyfile:\n%s", strings.Join(problems, ", "), msg, numbered(tc.caddyfile))
	}
}

// containsWord reports whether s contains w not followed by a digit ("line 4"
// must not match "line 45").
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		end := i + j + len(w)
		if end == len(s) || s[end] < '0' || s[end] > '9' {
			return true
		}
		i = end
	}
}

func joinInts(ns []int, sep string) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, sep)
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, l)
	}
	return b.String()
}

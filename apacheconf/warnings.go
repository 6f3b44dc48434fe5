package apacheconf

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// warnings collects what the adapter did not translate. Two kinds: ignored
// directives (they do not change how a request is handled in Caddy, or
// Caddy does it itself: modules, processes, logs) and untranslated ones
// (they change request handling and Caddy will not do what httpd did until
// the user adds it). Strict mode refuses the second kind.
type warnings struct {
	list        []caddyconfig.Warning
	untranslate []caddyconfig.Warning
}

// ignore notes a directive that needs no translation, and why.
func (w *warnings) ignore(d *directive, why string) {
	w.list = append(w.list, caddyconfig.Warning{File: d.file, Line: d.line, Directive: d.name, Message: "ignored: " + why})
}

// notTranslated notes a directive whose effect on requests is lost, and
// what to add by hand.
func (w *warnings) notTranslated(d *directive, format string, args ...any) {
	wr := caddyconfig.Warning{File: d.file, Line: d.line, Directive: d.name, Message: "NOT translated: " + fmt.Sprintf(format, args...)}
	w.list = append(w.list, wr)
	w.untranslate = append(w.untranslate, wr)
}

// note is a translated directive whose translation differs from httpd in a
// way the user should know; strict mode refuses it like an untranslated one.
func (w *warnings) note(d *directive, format string, args ...any) {
	wr := caddyconfig.Warning{File: d.file, Line: d.line, Directive: d.name, Message: fmt.Sprintf(format, args...)}
	w.list = append(w.list, wr)
	w.untranslate = append(w.untranslate, wr)
}

// StrictError is the error of strict mode: the directives that changed
// request handling in httpd and have no translation.
type StrictError struct {
	Warnings []caddyconfig.Warning
}

func (e *StrictError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "strict mode: %d directive(s) not translated", len(e.Warnings))
	for _, w := range e.Warnings {
		fmt.Fprintf(&b, "\n\t%s:%d: %s: %s", w.File, w.Line, w.Directive, w.Message)
	}
	return b.String()
}

// ignored are directives with no effect on request handling in Caddy, with
// the reason, by lower-case name.
var ignored = map[string]string{}

func init() {
	for why, names := range map[string]string{
		"modules are compiled into Caddy; the adapter reads <IfModule> from these lines": "LoadModule LoadFile",
		"process sizing and identity are Caddy's own (one process, goroutines)": "User Group PidFile Mutex DefaultRuntimeDir StartServers ServerLimit ThreadsPerChild ThreadLimit " +
			"MaxRequestWorkers MaxClients MinSpareThreads MaxSpareThreads MinSpareServers MaxSpareServers MaxConnectionsPerChild " +
			"MaxRequestsPerChild AsyncRequestWorkerFactor ListenBacklog ScoreBoardFile GracefulShutdownTimeout EnableMMAP EnableSendfile " +
			"CoreDumpDirectory ThreadStackSize MaxMemFree",
		"logging is configured in Caddy's `logging` app and the server's `logs`": "ErrorLog LogLevel LogFormat CustomLog TransferLog ErrorLogFormat " +
			"JkLogFile JkLogLevel JkLogStampFormat JkRequestLogFormat GlobalLog BufferedLogs",
		"Caddy keeps connections alive and times them out itself (servers' idle_timeout, read_timeout)": "KeepAlive KeepAliveTimeout MaxKeepAliveRequests Timeout",
		"no effect on proxied requests": "ServerAdmin ServerTokens ServerSignature HostnameLookups AccessFileName UseCanonicalName " +
			"AddDefaultCharset TypesConfig AddType AddCharset AddLanguage AddEncoding AddHandler AddOutputFilter DefaultType " +
			"LanguagePriority ForceLanguagePriority IndexOptions IndexIgnore AddIcon AddIconByType AddIconByEncoding DefaultIcon " +
			"ReadmeName HeaderName AddAlt AddAltByType AddAltByEncoding AddDescription MIMEMagicFile BrowserMatch SetEnvIf SetEnvIfNoCase " +
			"FileETag TraceEnable EnableExceptionHook",
		"mod_jk's shared memory, status and worker files are not needed: caddy-ajp keeps balancer state itself (admin API /ajp/balancers)": "JkShmFile JkShmSize JkWatchdogInterval JkOptions JkStripSession JkEnvVar JkWorkerProperty",
		"balancer state lives in caddy-ajp's runtime control (admin API, Caddy's storage)":                                                 "BalancerPersist BalancerGrowth BalancerInherit ProxyStatus ProxyPassInherit",
		"TLS session caching and entropy are Go's own":                                                                                     "SSLRandomSeed SSLSessionCache SSLSessionCacheTimeout SSLPassPhraseDialog SSLStaplingCache SSLCompression SSLSessionTickets SSLUseStapling SSLHonorCipherOrder",
		"mod_proxy_ajp forwards the client's Host header either way, as caddy-ajp does":                                                    "ProxyPreserveHost",
		"Caddy answers with its own Server header rules (none through reverse_proxy)":                                                      "ProxyVia",
		"forward proxying is off, as Caddy's reverse_proxy never is a forward proxy":                                                       "ProxyRequests",
		"workers.properties is read through JkWorkersFile":                                                                                 "JkWorkersFile",
	} {
		for _, n := range strings.Fields(names) {
			ignored[strings.ToLower(n)] = why
		}
	}
}

// hints say what a user adds by hand for common untranslated directives.
var hints = map[string]string{
	"rewriteengine":                "mod_rewrite is not translated; add Caddy's `rewrite`, `uri` or `redir` handlers for each rule",
	"rewriterule":                  "add a `rewrite` (internal) or `redir` (redirect) handler with a path_regexp matcher before the proxy routes",
	"rewritecond":                  "express the condition as a Caddy matcher (header, header_regexp, expression) on the rewrite/redir you add",
	"rewritemap":                   "no equivalent; use a `map` handler",
	"rewriteoptions":               "no equivalent",
	"rewritebase":                  "no equivalent",
	"redirect":                     "add a `static_response` with a Location header (or `redir` in a Caddyfile)",
	"redirectmatch":                "add a `static_response` with a Location header and a path_regexp matcher",
	"redirectpermanent":            "add a `static_response` with status 301 and a Location header",
	"redirecttemporary":            "add a `static_response` with status 302 and a Location header",
	"alias":                        "add a route with `rewrite` and a `file_server` whose root is the directory",
	"aliasmatch":                   "add a route with a path_regexp matcher, `rewrite` and a `file_server`",
	"scriptalias":                  "CGI is not translated",
	"header":                       "add a `headers` handler (response) to the route",
	"requestheader":                "add `headers.request` to the reverse_proxy (header_up in a Caddyfile)",
	"require":                      "access control is not translated; add `basic_auth`, a `remote_ip` matcher with `static_response` 403, or an `expression` matcher",
	"order":                        "access control is not translated; use a `remote_ip` matcher with `static_response` 403",
	"allow":                        "access control is not translated; use a `remote_ip` matcher",
	"deny":                         "access control is not translated; use a `remote_ip` matcher with `static_response` 403",
	"satisfy":                      "access control is not translated",
	"authtype":                     "authentication is not translated; add `authentication` (basic_auth) to the route",
	"authname":                     "authentication is not translated",
	"authuserfile":                 "authentication is not translated; hash the users into `basic_auth`",
	"authbasicprovider":            "authentication is not translated",
	"errordocument":                "add `errors` routes (handle_errors in a Caddyfile)",
	"options":                      "directory options are not translated; file_server browse is off by default",
	"allowoverride":                ".htaccess files are not read by Caddy",
	"directoryindex":               "file_server serves index.html; set its index_names for others",
	"setenv":                       "use `vars` or request headers",
	"setenvif":                     "use `vars` with a matcher",
	"unsetenv":                     "no equivalent",
	"sethandler":                   "handlers other than a JkMount/ProxyPass target are not translated",
	"addoutputfilterbytype":        "compression: add an `encode` handler",
	"deflatecompressionlevel":      "compression: add an `encode` handler",
	"expiresactive":                "add `headers` with Cache-Control/Expires",
	"expiresbytype":                "add `headers` with Cache-Control/Expires",
	"expiresdefault":               "add `headers` with Cache-Control/Expires",
	"sslprotocol":                  "Caddy's TLS defaults apply (TLS 1.2 and 1.3); set `protocols` on the connection policy to change them",
	"sslciphersuite":               "Caddy's TLS defaults apply (Go's modern cipher suites); set `cipher_suites` on the connection policy to change them",
	"sslcertificatechainfile":      "put the chain after the certificate in the file SSLCertificateFile names: Caddy reads the chain from that file",
	"sslproxyengine":               "TLS to backends: AJP members are plain TCP",
	"sslverifydepth":               "Caddy verifies the whole chain against the CA file",
	"sslcacertificatepath":         "give the CAs in one file (SSLCACertificateFile)",
	"sslcarevocationfile":          "no equivalent (certificate revocation lists)",
	"sslcarevocationcheck":         "no equivalent (certificate revocation lists)",
	"ssloptions":                   "the client certificate reaches Tomcat over AJP anyway (ssl_cert); StdEnvVars/ExportCertData need nothing",
	"proxyaddheaders":              "Caddy's reverse_proxy always adds X-Forwarded-For/-Proto/-Host; remove them with headers.request.delete",
	"proxyerroroverride":           "use reverse_proxy's handle_response",
	"proxybadheader":               "Go's HTTP client refuses malformed response headers",
	"proxymaxforwards":             "no equivalent",
	"proxyset":                     "this ProxySet names no balancer the adapter knows",
	"proxypassreverse":             "no ProxyPass maps this path to this target, so there is nothing to reverse",
	"proxypassreversecookiepath":   "no ProxyPass maps these paths to this target",
	"proxypassreversecookiedomain": "Set-Cookie Domain rewriting applies to members' host names only (ajp_path_map); this pair is not one",
	"proxyhtmlenable":              "no equivalent (HTML rewriting)",
	"proxyhtmlurlmap":              "no equivalent (HTML rewriting)",
	"jkautoalias":                  "serve the webapp's static files with a file_server route",
	"jkmountcopy":                  "(read with JkMount)",
	"documentroot":                 "(translated)",
}

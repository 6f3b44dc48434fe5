package apachetest

import (
	"strings"
	"testing"
)

func TestTLSListenerMapsThePathWithHTTP2(t *testing.T) {
	for _, mode := range []string{ModeProxyAJP, ModeJK} {
		t.Run(mode, func(t *testing.T) {
			o := Options{
				Mode: mode, Port: 8080, Members: []Member{{Addr: "127.0.0.1:8009", Route: "tomcat1"}},
				TLS: &TLS{Port: 8443, CertFile: "/c/cert.pem", KeyFile: "/c/key.pem", Curves: "X25519", HTTP2: true},
			}
			if err := o.setDefaults(); err != nil {
				t.Fatal(err)
			}
			conf, _ := renderConfig(&o, "/srv")
			vhost := conf[strings.Index(conf, "<VirtualHost"):]
			want := []string{
				`LoadModule ssl_module "/usr/lib/apache2/modules/mod_ssl.so"`,
				`LoadModule http2_module "/usr/lib/apache2/modules/mod_http2.so"`,
				"Listen 127.0.0.1:8443\n<VirtualHost 127.0.0.1:8443>",
				`SSLCertificateFile "/c/cert.pem"`, `SSLCertificateKeyFile "/c/key.pem"`,
				"SSLProtocol -all +TLSv1.3", "SSLOpenSSLConfCmd Curves X25519", "Protocols h2 http/1.1",
			}
			for _, w := range want {
				if !strings.Contains(conf, w) {
					t.Errorf("httpd.conf lacks %q:\n%s", w, conf)
				}
			}
			mapped := "ProxyPass /share balancer://app"
			if mode == ModeJK {
				mapped = "JkMount /share/* lb"
			}
			if strings.Count(conf, mapped) != 2 || !strings.Contains(vhost, "\t"+mapped) {
				t.Errorf("%q is not in both the main server and the TLS virtual host:\n%s", mapped, conf)
			}
		})
	}
}

func TestNoTLSLoadsNoSSLModule(t *testing.T) {
	o := Options{Port: 8080, Members: []Member{{Addr: "127.0.0.1:8009"}}}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	conf, _ := renderConfig(&o, "/srv")
	if strings.Contains(conf, "ssl") || strings.Contains(conf, "VirtualHost") {
		t.Errorf("plain config mentions TLS:\n%s", conf)
	}
	if o.TLS = (&TLS{CertFile: "c"}); o.setDefaults() == nil {
		t.Error("TLS without a key file accepted")
	}
}

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// benchCert is the one certificate every TLS front end serves in a run.
type benchCert struct {
	CertFile, KeyFile string
	Pool              *x509.CertPool // trusts only this certificate
}

// newBenchCert writes a fresh self-signed ECDSA P-256 certificate for
// 127.0.0.1 and localhost, and its key, into dir: generated once per run and
// given to Apache (SSLCertificateFile) and Caddy (tls cert key) alike, so
// the handshakes cost the same signature everywhere.
func newBenchCert(dir string) (benchCert, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return benchCert{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return benchCert{}, fmt.Errorf("generating the benchmark's P-256 key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return benchCert{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ajpbench 127.0.0.1"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return benchCert{}, fmt.Errorf("creating the benchmark's certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return benchCert{}, err
	}
	c := benchCert{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(c.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return c, err
	}
	// Apache's parent reads the key as root before its children switch user.
	if err := os.WriteFile(c.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return c, err
	}
	return c, c.load()
}

// load fills Pool from CertFile (also in the mix client's process).
func (c *benchCert) load() error {
	b, err := os.ReadFile(c.CertFile)
	if err != nil {
		return err
	}
	c.Pool = x509.NewCertPool()
	if !c.Pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("%s holds no certificate", c.CertFile)
	}
	return nil
}

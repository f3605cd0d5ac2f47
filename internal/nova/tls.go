package nova

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// applyTLS applies insecure, cacert_file and cert/key of c to t. cacert_file, cert and key
// are file paths or PEM contents.
func applyTLS(t *tls.Config, c Config) error {
	if c.Insecure != nil {
		t.InsecureSkipVerify = *c.Insecure
	}
	if c.CACertFile != "" {
		pem, err := pathOrContents(c.CACertFile)
		if err != nil {
			return fmt.Errorf("cacert_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bytes.TrimSpace(pem)) {
			return errors.New("cacert_file: no PEM certificate found")
		}
		t.RootCAs = pool
	}
	if (c.Cert == "") != (c.Key == "") {
		return errors.New("cert and key must be set together (client certificate)")
	}
	if c.Cert != "" {
		certPEM, err := pathOrContents(c.Cert)
		if err != nil {
			return fmt.Errorf("cert: %w", err)
		}
		keyPEM, err := pathOrContents(c.Key)
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("client certificate (cert, key): %w", err)
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return nil
}

// pathOrContents returns v itself when it is PEM, else the file it names (~ expanded).
func pathOrContents(v string) ([]byte, error) {
	if strings.Contains(v, "-----BEGIN") {
		return []byte(v), nil
	}
	p := v
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		p = home + "/" + rest
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return b, nil
}

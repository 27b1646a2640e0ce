package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
)

// certs holds the TLS certificate, re-read on SIGHUP without dropping
// connections: new handshakes get the new one.
type certs struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

func loadCerts(certFile, keyFile string) (*certs, error) {
	c := &certs{certFile: certFile, keyFile: keyFile}
	return c, c.reload()
}

func (c *certs) reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls_cert/tls_key: %w", err)
	}
	c.cur.Store(&cert)
	return nil
}

func (c *certs) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.cur.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("no certificate")
}

package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultCertCheckInterval is how often, at most, a certReloader looks at
// its files again: the first handshake after it has passed stats them.
const DefaultCertCheckInterval = 5 * time.Second

// certReloader serves a PEM certificate and key pair from two files and
// re-reads them when either file's modification time or size changes, so
// that a renewed certificate (cert-manager, certbot) is served without a
// restart. It looks at the files from the handshake itself, at most once per
// interval, with two stats; only a change costs a read and a parse. A new
// pair that does not load (half written, or a key that does not match) is
// logged at warn and the old one kept; it is tried again when either file
// changes once more.
type certReloader struct {
	certFile, keyFile string
	interval          time.Duration
	now               func() time.Time
	stat              func(string) (fs.FileInfo, error)
	log               *slog.Logger

	mu      sync.Mutex // guards the fields below
	cert    *tls.Certificate
	stamp   [2]fileStamp // of certFile, keyFile when last read (loaded or not)
	checked time.Time
}

// fileStamp is what tells a changed file: its modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

// newCertReloader loads the pair once and returns a reloader serving it; a
// pair that does not load is an error.
func newCertReloader(certFile, keyFile string, now func() time.Time, log *slog.Logger) (*certReloader, error) {
	if now == nil {
		now = time.Now
	}
	r := &certReloader{certFile: certFile, keyFile: keyFile, interval: DefaultCertCheckInterval,
		now: now, stat: os.Stat, log: log}
	stamp, err := r.stamps()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert, r.stamp, r.checked = &cert, stamp, now()
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := r.stat(name)
		if err != nil {
			return s, err
		}
		s[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return s, nil
}

// current returns the pair to serve, re-reading the files first if the
// interval has passed since the last look and either has changed.
func (r *certReloader) current() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.checked) < r.interval {
		return r.cert
	}
	r.checked = now
	stamp, err := r.stamps()
	if err != nil {
		r.log.Warn("tokenguard: TLS certificate files unreadable; serving the previous pair",
			slog.String("cert", r.certFile), slog.String("error", err.Error()))
		return r.cert
	}
	if stamp == r.stamp {
		return r.cert
	}
	r.stamp = stamp
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Warn("tokenguard: new TLS certificate pair does not load; serving the previous pair",
			slog.String("cert", r.certFile), slog.String("key", r.keyFile), slog.String("error", err.Error()))
		return r.cert
	}
	r.cert = &cert
	r.log.Info("tokenguard: TLS certificate reloaded", slog.String("cert", r.certFile))
	return r.cert
}

// GetCertificate is the tls.Config hook of a server.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current(), nil
}

// GetClientCertificate is the tls.Config hook of a client.
func (r *certReloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.current(), nil
}

// serverTLSConfig is the TLS configuration of a listener served from
// certs: TLS 1.2 or later, and HTTP/2 offered by ALPN when h2 is set (the
// engine serves it), HTTP/1.1 otherwise.
func serverTLSConfig(certs *certReloader, h2 bool) *tls.Config {
	protos := []string{"http/1.1"}
	if h2 {
		protos = []string{"h2", "http/1.1"}
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.GetCertificate,
		NextProtos:     protos,
	}
}

// clientTLSConfig is the TLS configuration of a client to a server whose
// certificate chains to the PEM certificates of caFile (instead of the
// system roots) and, with certFile and keyFile, that presents that client
// certificate, reloaded like a server's. It returns nil when all three are
// empty: the transport's defaults. field names the Config fields for errors.
func clientTLSConfig(field, caFile, certFile, keyFile string, now func() time.Time, log *slog.Logger) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fieldErr(field+"CAFile", "%v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fieldErr(field+"CAFile", "%s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fieldErr(field+"ClientCertFile", "a client certificate needs both its certificate and its key file")
	}
	if certFile != "" {
		r, err := newCertReloader(certFile, keyFile, now, log)
		if err != nil {
			return nil, fieldErr(field+"ClientCertFile", "%v", err)
		}
		cfg.GetClientCertificate = r.GetClientCertificate
	}
	return cfg, nil
}

// serverCerts loads the listeners' certificate pair of a normalized c; nil
// without one.
func serverCerts(c Config) (*certReloader, error) {
	if c.TLSCertFile == "" && c.TLSKeyFile == "" {
		return nil, nil
	}
	if c.TLSCertFile == "" || c.TLSKeyFile == "" {
		return nil, fieldErr("TLSCertFile", "TLS needs both a certificate file and a key file")
	}
	r, err := newCertReloader(c.TLSCertFile, c.TLSKeyFile, c.Now, c.Logger)
	if err != nil {
		return nil, fieldErr("TLSCertFile", "%v", err)
	}
	return r, nil
}

package main

import (
	"flag"

	"github.com/tokenguard/tokenguard/internal/gateway"
)

// tlsFlags are the TLS flags of proxy and forward-auth: the listeners'
// certificate, and the CA and client certificate towards the upstream and
// the App Services API.
type tlsFlags struct {
	tlsCert, tlsKey                       string
	upstreamCA, upstreamCert, upstreamKey string
	apiCA, apiCert, apiKey                string
}

func (f *tlsFlags) register(fs *flag.FlagSet, mode gateway.Mode) {
	fs.StringVar(&f.tlsCert, "tls-cert-file", "", "PEM certificate chain `file`: the data and admin listeners serve TLS 1.2+ "+
		"(HTTP/2 offered) with it and --tls-key-file, re-read when either file changes; empty: plain HTTP")
	fs.StringVar(&f.tlsKey, "tls-key-file", "", "PEM private key `file` of --tls-cert-file")
	if mode == gateway.ModeProxy {
		fs.StringVar(&f.upstreamCA, "upstream-ca-file", "", "PEM `file` of the CA certificates an https --upstream must chain to (instead of the system roots)")
		fs.StringVar(&f.upstreamCert, "upstream-client-cert-file", "", "PEM client certificate `file` presented to the upstream (mutual TLS), with --upstream-client-key-file")
		fs.StringVar(&f.upstreamKey, "upstream-client-key-file", "", "PEM private key `file` of --upstream-client-cert-file")
	}
	fs.StringVar(&f.apiCA, "api-ca-file", "", "PEM `file` of the CA certificates the App Services API must chain to (instead of the system roots)")
	fs.StringVar(&f.apiCert, "api-client-cert-file", "", "PEM client certificate `file` presented to the App Services API, with --api-client-key-file")
	fs.StringVar(&f.apiKey, "api-client-key-file", "", "PEM private key `file` of --api-client-cert-file")
}

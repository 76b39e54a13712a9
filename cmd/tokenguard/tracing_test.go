package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tokenguard/tokenguard/internal/gateway"
	"github.com/tokenguard/tokenguard/verifier/appservices/appservicestest"
)

func TestTracingWanted(t *testing.T) {
	tests := []struct {
		name    string
		env     env
		flag    bool
		want    bool
		wantErr string
	}{
		{"nothing set: off, unlike the spec's default of otlp", env{}, false, false, ""},
		{"endpoint", env{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, false, true, ""},
		{"traces endpoint", env{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, false, true, ""},
		{"exporter otlp", env{"OTEL_TRACES_EXPORTER": "otlp"}, false, true, ""},
		{"flag", env{}, true, true, ""},
		{"none wins over the endpoint and the flag", env{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, true, false, ""},
		{"sdk disabled", env{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, true, false, ""},
		{"http/protobuf", env{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, false, true, ""},
		{"another exporter", env{"OTEL_TRACES_EXPORTER": "zipkin"}, false, false, "only otlp"},
		{"grpc", env{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, false, false, "only http/protobuf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			on, err := tracingWanted(tt.env.lookup, tt.flag)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, on)
		})
	}
}

// otlpCollector is an OTLP/HTTP trace endpoint: it decodes each export
// (https://opentelemetry.io/docs/specs/otlp/#otlphttp) and keeps the raw
// bodies too.
type otlpCollector struct {
	*httptest.Server
	got chan *coltracepb.ExportTraceServiceRequest
	raw chan []byte
}

func newOTLPCollector(t *testing.T) *otlpCollector {
	c := &otlpCollector{got: make(chan *coltracepb.ExportTraceServiceRequest, 64), raw: make(chan []byte, 64)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		req := new(coltracepb.ExportTraceServiceRequest)
		if err == nil {
			err = proto.Unmarshal(b, req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.raw <- b
		c.got <- req
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.Close) // before goleak looks: the exporter's idle connection ends with it
	return c
}

// spans returns every span exported so far, with its resource's service
// name; call it once the gateway has stopped (and flushed).
func (c *otlpCollector) spans() (spans []*tracepb.Span, services []string, raw []byte) {
	for {
		select {
		case req := <-c.got:
			raw = append(raw, <-c.raw...)
			for _, rs := range req.ResourceSpans {
				svc := attrValue(rs.GetResource().GetAttributes(), "service.name")
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						spans = append(spans, s)
						services = append(services, svc)
					}
				}
			}
		default:
			return spans, services, raw
		}
	}
}

func attrValue(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			if s, ok := kv.Value.Value.(*commonpb.AnyValue_StringValue); ok {
				return s.StringValue
			}
			if i, ok := kv.Value.Value.(*commonpb.AnyValue_IntValue); ok {
				return strconv.FormatInt(i.IntValue, 10)
			}
		}
	}
	return ""
}

// runForwardAuthOnce runs `tokenguard forward-auth` in-process against emu
// with the OTEL_* variables of the process environment, sends one request
// through it, stops it, and returns the Config.TracerProvider it ran with
// being nil or not.
func runForwardAuthOnce(t *testing.T, emu *appservicestest.Server, send func(data string)) (traced bool) {
	t.Helper()
	ec := emu.Config()
	vars := env{
		"TOKENGUARD_API_URL": emu.URL, "TOKENGUARD_GROUP_ID": ec.GroupID, "TOKENGUARD_APP_ID": ec.AppID,
		"TOKENGUARD_PUBLIC_KEY": ec.PublicKey, "TOKENGUARD_PRIVATE_KEY": ec.PrivateKey,
	}
	started := make(chan string, 1)
	cmd := gatewayCommand{
		mode: gateway.ModeForwardAuth,
		lookupEnv: func(k string) (string, bool) {
			if strings.HasPrefix(k, "OTEL_") {
				return os.LookupEnv(k) // as the exporter reads them
			}
			return vars.lookup(k)
		},
		configure: func(c *gateway.Config) { c.Now, traced = emu.Now, c.TracerProvider != nil },
		started: func(g *gateway.Gateway, data, _ net.Addr) {
			go func() {
				<-g.Ready()
				started <- "http://" + data.String()
			}()
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stderr syncBuffer
	go func() {
		done <- cmd.run(ctx, []string{"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-level", "warn"}, io.Discard, &stderr)
	}()
	select {
	case data := <-started:
		send(data)
	case err := <-done:
		t.Fatalf("forward-auth exited: %v; %s", err, stderr.String())
	}
	cancel()
	require.NoError(t, <-done, "log: %s", stderr.String())
	assert.NotContains(t, stderr.String(), "tracing:", "no export error")
	return traced
}

// TestTracingExportsOverOTLPHTTP: with OTEL_EXPORTER_OTLP_ENDPOINT set, the
// gateway sends its spans over OTLP/HTTP to that endpoint, the last ones
// flushed when it stops: the request's server span in the client's trace,
// with OTEL_SERVICE_NAME and the outcome, and the verification under it;
// no byte of the export is the token.
func TestTracingExportsOverOTLPHTTP(t *testing.T) {
	col := newOTLPCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", col.URL)
	t.Setenv("OTEL_SERVICE_NAME", "tokenguard-test")
	emu := appservicestest.NewServer()
	defer emu.Close()
	tok, err := emu.NewAccessToken(emu.AddUser("ada@example.com", "pw"))
	require.NoError(t, err)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

	traced := runForwardAuthOnce(t, emu, func(data string) {
		req, err := http.NewRequest(http.MethodGet, data+"/auth", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		client := &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		resp, err := client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
	require.True(t, traced)

	spans, services, raw := col.spans()
	var server, verify *tracepb.Span
	for i, s := range spans {
		assert.Equal(t, "tokenguard-test", services[i])
		switch s.Name {
		case "GET":
			server = s
		case "tokenguard.verify":
			verify = s
		}
	}
	require.NotNil(t, server, "the request's span was exported")
	require.NotNil(t, verify, "the verification's span was exported")
	assert.Equal(t, traceID, hex.EncodeToString(server.TraceId))
	assert.Equal(t, tracepb.Span_SPAN_KIND_SERVER, server.Kind)
	assert.Equal(t, "authenticated", attrValue(server.Attributes, "tokenguard.outcome"))
	assert.Equal(t, "200", attrValue(server.Attributes, "http.response.status_code"))
	assert.Equal(t, server.SpanId, verify.ParentSpanId)
	for _, part := range append(strings.Split(tok, "."), tok) {
		assert.False(t, bytes.Contains(raw, []byte(part)), "the export carries part of the token")
	}
}

// TestTracingOffWithoutEnvironment: with no OTEL_* variable set the gateway
// runs without a TracerProvider: nothing is traced, nothing sent.
func TestTracingOffWithoutEnvironment(t *testing.T) {
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	emu := appservicestest.NewServer()
	defer emu.Close()
	traced := runForwardAuthOnce(t, emu, func(string) {})
	assert.False(t, traced)
}

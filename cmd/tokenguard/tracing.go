package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tokenguard/tokenguard/internal/buildinfo"
)

// defaultServiceName is service.name unless OTEL_SERVICE_NAME (or
// OTEL_RESOURCE_ATTRIBUTES) says otherwise.
const defaultServiceName = "tokenguard"

// tracingShutdownTimeout bounds the flush of the spans still queued when the
// gateway stops.
const tracingShutdownTimeout = 5 * time.Second

// tracingWanted reports whether the environment (or --otel) turns tracing
// on. The OpenTelemetry specification makes otlp OTEL_TRACES_EXPORTER's
// default; tokenguard exports nothing unless asked, so that a gateway does
// not start sending spans to localhost:4318 because nobody set a variable:
//
//   - OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none: off, --otel or not;
//   - OTEL_TRACES_EXPORTER=otlp: on (any other exporter is an error);
//   - OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set: on;
//   - --otel: on;
//   - otherwise off.
//
// OTLP over HTTP with protobuf is the one protocol built in: an
// OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL of grpc or http/json is an error.
func tracingWanted(lookupEnv func(string) (string, bool), flagOn bool) (bool, error) {
	get := func(k string) string {
		v, _ := lookupEnv(k)
		return strings.TrimSpace(v)
	}
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return false, nil
	}
	on := flagOn || get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	if exp := get("OTEL_TRACES_EXPORTER"); exp != "" {
		for e := range strings.SplitSeq(exp, ",") {
			switch strings.TrimSpace(e) {
			case "none":
				return false, nil
			case "otlp":
				on = true
			default:
				return false, usagef("OTEL_TRACES_EXPORTER=%s: only otlp (over HTTP) and none are supported", exp)
			}
		}
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if p := get(k); p != "" && p != "http/protobuf" {
			return false, usagef("%s=%s: only http/protobuf is supported", k, p)
		}
	}
	return on, nil
}

// newTracerProvider returns the TracerProvider of an OTLP/HTTP exporter
// configured by the standard OTEL_EXPORTER_OTLP_* variables (the exporter
// reads them itself: endpoint, headers, TLS, timeout, compression), with a
// batching span processor (OTEL_BSP_*), the sampler of OTEL_TRACES_SAMPLER
// (default: parent-based, always on) and a resource whose service.name is
// OTEL_SERVICE_NAME, "tokenguard" by default. Export errors go to log.
func newTracerProvider(ctx context.Context, log *slog.Logger) (*sdktrace.TracerProvider, error) {
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", defaultServiceName),
			attribute.String("service.version", buildinfo.Read().Version),
		),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: last, so they win
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tokenguard: tracing: " + err.Error())
	}))
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// shutdownTracing flushes the spans still queued and stops tp, within
// tracingShutdownTimeout.
func shutdownTracing(tp *sdktrace.TracerProvider, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		log.Warn("tokenguard: tracing: flushing the last spans failed", slog.String("error", err.Error()))
	}
}

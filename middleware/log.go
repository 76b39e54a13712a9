package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// logger returns the configured logger or, when none was, the default one.
func (m *Middleware) logger() *slog.Logger {
	if m.log != nil {
		return m.log
	}
	return slog.Default()
}

// kindLevels are the log levels of the outcomes: routine ones at debug,
// refusals of bad credentials at info, outages at warn.
var kindLevels = [numKinds]slog.Level{
	KindUnavailable:   slog.LevelWarn,
	KindMissing:       slog.LevelDebug,
	KindMalformed:     slog.LevelInfo,
	KindInvalid:       slog.LevelInfo,
	KindAnonymous:     slog.LevelDebug,
	KindAuthenticated: slog.LevelDebug,
}

// logDecision writes one line about d, if the logger wants it. tok is the
// token the decision was about ("" if none); only its fingerprint is logged.
func (m *Middleware) logDecision(ctx context.Context, src TokenSource, d *Decision, tok string) {
	level := slog.LevelWarn
	if d.Kind < numKinds {
		level = kindLevels[d.Kind]
	}
	l := m.logger()
	if !l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("outcome", d.Kind.String()),
		slog.String("method", src.Method()),
		slog.String("path", src.Path()),
	)
	if tok != "" && d.Kind != KindMalformed { // a malformed credential is no token to name
		attrs = append(attrs, slog.String("token", fingerprint(tok)))
	}
	if d.User != nil {
		attrs = append(attrs, slog.String("user_id", d.User.ID))
	}
	if d.Err != nil {
		attrs = append(attrs, slog.String("error", d.Err.Error())) // scrubbed by classify
	}
	if d.Kind == KindUnavailable {
		attrs = append(attrs, slog.Duration("retry_after", d.RetryAfter))
	}
	l.LogAttrs(ctx, level, "tokenguard: "+d.Kind.String(), attrs...)
}

// fingerprint names a token in logs without revealing it: the first 8 hex
// digits of its SHA-256.
func fingerprint(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:4])
}

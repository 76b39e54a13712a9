package gateway

import "testing"

// engines is the one table of data-path engines; a test that runs through
// eachEngine holds for both.
var engines = []struct {
	name string
	fn   EngineFunc
}{
	{"nethttp", NetHTTP},
	{"fasthttp", FastHTTP},
}

// eachEngine runs f as a subtest per engine, with the engine to set on
// Config.Engine.
func eachEngine(t *testing.T, f func(t *testing.T, engine EngineFunc)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { f(t, e.fn) })
	}
}

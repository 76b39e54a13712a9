package gateway

import "fmt"

// EngineNamed returns the engine of a --engine value: "nethttp" (or "")
// for NetHTTP, "fasthttp" for FastHTTP.
func EngineNamed(name string) (EngineFunc, error) {
	switch name {
	case "", "nethttp":
		return NetHTTP, nil
	case "fasthttp":
		return FastHTTP, nil
	}
	return nil, fmt.Errorf("gateway: unknown engine %q", name)
}

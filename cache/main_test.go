package cache

import (
	"testing"

	"go.uber.org/goleak"
)

// Every flight ends with its upstream call; no test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

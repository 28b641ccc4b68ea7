package execjs

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a call goroutine, watchdog or abandoned runtime
// outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

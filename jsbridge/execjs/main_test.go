package execjs

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a call goroutine, watchdog or abandoned runtime
// outlives the tests. regexp2's clock goroutine (every regex has a match
// timeout: jsguard.RegexTimeout) outlives a match by a second or so.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2/v2.runClock"))
}

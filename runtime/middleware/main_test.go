package middleware

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind (the
// robots.txt fetches run detached and must all finish).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

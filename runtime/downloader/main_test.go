package downloader

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves goroutines behind: hung
// downloads, decoders and connections must all be released (H7).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

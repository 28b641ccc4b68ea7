package engine

import "time"

// SetBatchDelay sets the delay after which a running callback's requests
// are sent, for a test, and restores it when the test ends.
func SetBatchDelay(t interface{ Cleanup(func()) }, d time.Duration) {
	old := batchDelay
	batchDelay = d
	t.Cleanup(func() { batchDelay = old })
}

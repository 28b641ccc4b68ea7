package fingerprint

import "testing"

// NewQUICServer starts a QUICServer for a test and closes it when the test
// ends: the reference a QUIC client's test compares against.
func NewQUICServer(t testing.TB, cfg QUICConfig) *QUICServer {
	t.Helper()
	s, err := StartQUIC(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

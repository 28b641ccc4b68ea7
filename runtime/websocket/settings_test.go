package websocket

import (
	"testing"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the table's defaults give NewManager's own
// (end tag, idle timeout), and the differences FromSettings documents.
func TestFromSettingsDefaults(t *testing.T) {
	v := settings.Defaults()
	got, zero := NewManager(FromSettings(&v)), NewManager(Options{})
	defer got.Close()
	defer zero.Close()
	if got.opts.EndTag != zero.opts.EndTag || got.opts.IdleTimeout != zero.opts.IdleTimeout {
		t.Errorf("table: end tag %q, idle %v; NewManager: %q, %v", got.opts.EndTag, got.opts.IdleTimeout, zero.opts.EndTag, zero.opts.IdleTimeout)
	}
	if got.opts.Insecure || zero.opts.Insecure {
		t.Error("certificates are verified by default, in a crawl (TLS_VERIFY true) and with the zero Options")
	}
	if got.opts.MaxConns != 16 || got.opts.MaxConnsPerHost != 8 || zero.opts.MaxConns != 0 || zero.opts.MaxConnsPerHost != 0 {
		t.Errorf("caps: table %d/%d, zero Options %d/%d", got.opts.MaxConns, got.opts.MaxConnsPerHost, zero.opts.MaxConns, zero.opts.MaxConnsPerHost)
	}
}

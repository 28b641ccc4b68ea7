package main

import (
	"testing"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/metrics"
)

// The METRICS_ADDR setting's check (dsl, which imports nothing of ours)
// and metrics.ResolveAddr, which listens, accept the same addresses: what
// validate accepts, run can listen on.
func TestMetricsAddrSettingAgreesWithResolve(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{
		"9090", ":9090", "0", "127.0.0.1:0", "localhost:9090", "[::1]:9090", "0.0.0.0:9090", "host.test:65535",
		"host:http", "70000", ":-1", "a:b:c", "::1", "127.0.0.1", "bad host:80", "x/y:80", "[::1]",
	} {
		setErr := dsl.DefaultSettings().SetFromCLI("METRICS_ADDR=" + addr)
		_, _, resErr := metrics.ResolveAddr(addr)
		if (setErr == nil) != (resErr == nil) {
			t.Errorf("%q: setting check %v, ResolveAddr %v", addr, setErr, resErr)
		}
	}
}

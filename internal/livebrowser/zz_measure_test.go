package livebrowser_test

import (
	"context"
	"os/exec"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
)

func TestZZMeasureChaos(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("MEASURE_N"))
	bin := livebrowser.Require(t, livebrowser.Chromium)
	ca, err := livebrowser.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv := fingerprint.NewQUICServer(t, fingerprint.QUICConfig{Certificate: &ca.Leaf,
		Respond: func(c fingerprint.Capture) (string, []byte) { return "text/html", []byte("<p>x</p>") }})
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	for i := 0; i < n; i++ {
		cmd := exec.CommandContext(ctx, bin, chromiumQUICArgs(ca, srv.Port(), t.TempDir(), srv.URL("localhost", "/"))...)
		cmd.WaitDelay = 2 * time.Second
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, tailOf(out))
		}
	}
	time.Sleep(time.Second)
	caps := srv.Captures()
	t.Logf("chromium: %s", fingerprint.LayoutDistribution(caps))
	sum, err := fingerprint.SummarizeQUIC(caps)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *sum.InitialLayout)
	for _, c := range caps {
		if c.Path == "/" {
			for _, p := range c.QUIC.Packets {
				t.Logf("conn %d pn %d %v %v", c.Conn, p.PacketNumber, p.Frames, p.Crypto)
			}
		}
	}
}

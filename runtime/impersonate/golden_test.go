package impersonate

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// TestFidelityTable records, for every shipped profile, what a
// fingerprinting server computes from its first connection: JA4, JA3N
// (hash), Akamai HTTP/2 fingerprint, and the negotiated protocol. JA4 and
// JA3N ignore GREASE and extension order, so they are stable per profile
// (padding aside, see below);
// the golden file (testdata/fidelity.md, copied into
// specs/impersonation.md) catches any unintended change of a profile.
func TestFidelityTable(t *testing.T) {
	srv, tr := fpServer(t, fingerprint.Config{})
	var b strings.Builder
	b.WriteString("| profile | http | JA4 | JA3N (md5) | Akamai HTTP/2 |\n|---|---|---|---|---|\n")
	for _, name := range append(browserProfiles(), PlainGo) {
		for _, v := range []string{"", "1.1"} {
			if v == "1.1" && name != "chrome_156" && name != "chrome_148" && name != "firefox_140" && name != "firefox_153" { // the captured ones
				continue
			}
			// Standard JA4 and JA3N, padding extension (0x0015) included:
			// BoringSSL-style stacks add it only when the hello is 256..511
			// bytes long, which varies with the random ECH GREASE length
			// (utls's Chrome 120 parrot, like Chrome 120 itself), so a
			// profile may show two values; 16 first connections show both
			// (each JA4 is listed once, sorted).
			var c fingerprint.Capture
			var ja4s, ja3ns []string
			for i := range 16 {
				c = fetchCapture(t, tr, &downloader.Outgoing{
					Method: "GET", URL: mustURL(t, srv.URL("localhost", "/")), Impersonate: name,
					HTTPVersion: v, Verify: true, PoolKey: fmt.Sprintf("golden-%s%s-%d", name, v, i),
				})
				ja4s, ja3ns = append(ja4s, c.JA4), append(ja3ns, c.JA3NHash)
			}
			slices.Sort(ja4s)
			slices.Sort(ja3ns)
			ja4 := strings.Join(slices.Compact(ja4s), "` or `")
			ja3n := strings.Join(slices.Compact(ja3ns), "` or `")
			ak := c.Akamai
			if ak == "" {
				ak = "(HTTP/1.1: " + fmt.Sprint(len(c.Headers)) + " headers)"
			}
			// Escape the pipes of the Akamai string: the table is Markdown.
			fmt.Fprintf(&b, "| %s | %s | `%s` | `%s` | `%s` |\n", name, c.HTTPVersion, ja4, ja3n, strings.ReplaceAll(ak, "|", `\|`))
		}
	}
	golden.CheckString(t, filepath.Join("testdata", "fidelity.md"), b.String())
}

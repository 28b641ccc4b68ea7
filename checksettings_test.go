package spiderrun

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/spiderrun/spiderrun/dsl"
)

// TestNewRunsCheckSettings checks that New reports a setting combination
// exactly as validate does (CheckSettings), before building anything, and
// that a spec CheckSettings accepts gets past it.
func TestNewRunsCheckSettings(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, settings string }{
		{"bloom in memory", "  DUPEFILTER: bloom\n"},
		{"missing profile set", "  SESSION_PROFILES: nowhere/\n"},
		{"jobdir with redis", "  SCHEDULER: redis\n  JOBDIR: job\n"},
		{"unknown profile", "  IMPERSONATE: netscape_4\n"},
		{"missing ca file", "  REDIS_URL: rediss://127.0.0.1:1/0\n  REDIS_TLS_CA_FILE: ca.pem\n"},
		{"bloom too large", "  SCHEDULER: redis\n  DUPEFILTER: bloom\n  DUPEFILTER_BLOOM_CAPACITY: 1000000000\n"},
		{"jobdir on a file", "  JOBDIR: s.js/job\n"},
		{"httpcache on a file", "  HTTPCACHE_ENABLED: true\n  HTTPCACHE_DIR: s.js\n"},
		{"feed under a file", "  FEEDS: {\"s.js/items.jsonl\": {}}\n"},
		{"feed to s3", "  FEEDS: {\"s3://bucket/items.jsonl\": {}}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "s.js"), []byte("export function parse(r) {}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "spider.yaml")
			src := "name: v\nscript: s.js\nstart_urls: [\"https://example.com/\"]\nsettings:\n" + c.settings
			spec, err := dsl.Parse(file, []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			errs := CheckSettings(spec)
			if len(errs) != 1 {
				t.Fatalf("CheckSettings: %v, want one error", errs)
			}
			var de *dsl.Error
			if !errors.As(errs[0], &de) || de.Line < 5 || de.Col == 0 || de.File != file {
				t.Errorf("CheckSettings error %q has no position in the spec's settings", errs[0])
			}
			if all := Check(spec, CheckOptions{}); len(all) != 1 || all[0].Error() != errs[0].Error() {
				t.Errorf("Check: %v, want CheckSettings' %v", all, errs)
			}
			c, err := New(Options{Spec: spec, NoFeeds: true})
			if err == nil {
				c.Close()
				t.Fatal("New accepted the spec")
			}
			if err.Error() != errs[0].Error() {
				t.Errorf("New: %q, want validate's %q", err, errs[0])
			}
		})
	}
}

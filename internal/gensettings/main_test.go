package main

import (
	"go/token"
	"os"
	"path/filepath"
	"testing"

	"github.com/spiderrun/spiderrun/dsl"
)

// TestGeneratedFilesAreCurrent regenerates the typed settings in memory
// and compares them with the files in the tree, like TestSettingsDoc does
// for specs/settings.md: a setting added to or changed in the table fails
// here until the files are regenerated.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is out of date with dsl/settings_table.go: run go run ./internal/gensettings", name)
		}
	}
}

func TestGoNames(t *testing.T) {
	for _, tc := range []struct{ setting, want string }{
		{"CONCURRENT_REQUESTS", "ConcurrentRequests"},
		{"DOWNLOAD_MAXSIZE", "DownloadMaxSize"},
		{"REDIS_TLS_CA_FILE", "RedisTLSCAFile"},
		{"REDIS_START_URLS_AS_ZSET", "RedisStartURLsAsZSet"},
		{"HTTPCACHE_IGNORE_HTTP_CODES", "HTTPCacheIgnoreHTTPCodes"},
		{"URLLENGTH_LIMIT", "URLLengthLimit"},
	} {
		if got := goName(tc.setting); got != tc.want {
			t.Errorf("goName(%s) = %s, want %s", tc.setting, got, tc.want)
		}
	}
	// Every name is an exported identifier (generate also refuses two
	// settings with one Go name).
	for _, d := range dsl.Table() {
		if n := goName(d.Name); !token.IsIdentifier(n) || !token.IsExported(n) {
			t.Errorf("%s gives %q, not an exported Go identifier", d.Name, n)
		}
	}
}

func TestDefaultExpressions(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{durationExpr(0), "0"},
		{durationExpr(1500 * 1e6), "1500 * time.Millisecond"},
		{durationExpr(90 * 1e9), "90 * time.Second"},
		{sizeExpr(32 << 20), "32 << 20"},
		{sizeExpr(100_000), "100_000"},
		{digits(-1), "-1"},
		{digits(2083), "2083"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

package downloader_test

import (
	"reflect"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the settings table's defaults map onto exactly
// DefaultOptions (what a Go caller without settings gets), so neither can
// drift from specs/settings.md.
func TestFromSettingsDefaults(t *testing.T) {
	want := downloader.DefaultOptions()
	v := settings.Defaults()
	got, err := downloader.FromSettings(&v, downloader.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the table's defaults give\n%+v\nbut DefaultOptions() is\n%+v", got, want)
	}
	// The memory defaults the docs state (specs/downloader.md).
	if want.MaxSize != 32<<20 || want.WarnSize != 8<<20 || want.MemoryBudget != 256<<20 || want.MemoryBudget < want.MaxSize {
		t.Fatalf("maxsize %d, warnsize %d, memory budget %d", want.MaxSize, want.WarnSize, want.MemoryBudget)
	}
}

func TestFromSettingsNetworkAllow(t *testing.T) {
	v := settings.Defaults()
	v.DenyPrivateNetworks = true
	v.NetworkAllow = []string{"10.0.0.0/8"}
	got, err := downloader.FromSettings(&v, downloader.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.HTTP.DenyPrivate || len(got.HTTP.Guard.Allow) != 1 || got.HTTP.Guard.Allow[0].String() != "10.0.0.0/8" {
		t.Fatalf("guard %+v", got.HTTP)
	}
	v.NetworkAllow = []string{"10.0.0.0"}
	if _, err := downloader.FromSettings(&v, downloader.HTTPOptions{}); err == nil {
		t.Fatal("a bad prefix was accepted")
	}
}

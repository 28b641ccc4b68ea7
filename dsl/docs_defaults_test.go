package dsl

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestDownloaderDocDefaults: specs/downloader.md explains, in a table of
// its own, the defaults that differ from Scrapy's. The settings table is
// their source; this keeps the prose in step with it.
func TestDownloaderDocDefaults(t *testing.T) {
	b, err := os.ReadFile("../specs/downloader.md")
	if err != nil {
		t.Fatal(err)
	}
	const header = "| setting | here | Scrapy | why |"
	_, rest, ok := strings.Cut(string(b), header+"\n")
	if !ok {
		t.Fatalf("specs/downloader.md: no table %q", header)
	}
	rows := 0
	for _, line := range strings.Split(rest, "\n")[1:] { // [0] is the |---| line
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		name, here := strings.TrimSpace(cells[0]), strings.ReplaceAll(strings.TrimSpace(cells[1]), " ", "")
		def, ok := Lookup(name)
		if !ok {
			t.Errorf("%s: not a setting", name)
			continue
		}
		rows++
		var got any
		switch def.Kind {
		case KindSize:
			got, err = ParseSize(here)
		case KindDuration:
			got, err = ParseDuration(here)
		case KindInt:
			got, err = strconv.Atoi(here)
		default:
			t.Errorf("%s: a %s default is not checked here", name, def.Kind)
			continue
		}
		if err != nil || got != def.Default {
			t.Errorf("specs/downloader.md says %s defaults to %q; the settings table says %s", name, cells[1], FormatDefault(def))
		}
	}
	if rows == 0 {
		t.Fatal("specs/downloader.md: empty defaults table")
	}
}

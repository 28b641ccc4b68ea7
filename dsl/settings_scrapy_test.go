package dsl

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
)

// scrapyReference is testdata/reference/settings/expected.json: the names
// and defaults of Scrapy 2.8's default_settings (written by its gen.py).
type scrapyReference struct {
	Version  string         `json:"scrapy"`
	Settings map[string]any `json:"settings"`
}

var scrapyRef = sync.OnceValues(func() (scrapyReference, error) {
	var ref scrapyReference
	b, err := os.ReadFile("../testdata/reference/settings/expected.json")
	if err != nil {
		return ref, err
	}
	err = json.Unmarshal(b, &ref)
	return ref, err
})

func loadScrapyRef(t *testing.T) scrapyReference {
	t.Helper()
	ref, err := scrapyRef()
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Settings) < 100 {
		t.Fatalf("reference lists %d settings: regenerate it (testdata/reference/regen)", len(ref.Settings))
	}
	return ref
}

// TestScrapySettingsClassified: every setting of Scrapy's default_settings
// is either implemented by the table (same name, same meaning) or
// classified in ScrapySettings (accepted and ignored, or refused, with
// why), never both; the classification names only Scrapy's settings; a
// refused setting's accepted value is Scrapy's default; and the table's
// own additions (documented "Not in Scrapy") use names Scrapy does not.
func TestScrapySettingsClassified(t *testing.T) {
	ref := loadScrapyRef(t)
	for name := range ref.Settings {
		_, inTable := Lookup(name)
		_, classified := scrapyByName[name]
		switch {
		case inTable && classified:
			t.Errorf("%s is in the settings table and in scrapySettings: drop it from scrapySettings", name)
		case !inTable && !classified:
			t.Errorf("Scrapy's %s is not classified: implement it in the settings table or add it to scrapySettings (ignored or refused, with why)", name)
		}
	}
	seen := map[string]bool{}
	for _, sc := range scrapySettings {
		if seen[sc.Name] {
			t.Errorf("%s classified twice", sc.Name)
		}
		seen[sc.Name] = true
		def, ok := ref.Settings[sc.Name]
		if !ok {
			t.Errorf("scrapySettings: %s is not one of Scrapy %s's settings", sc.Name, ref.Version)
		}
		if sc.Status != ScrapyIgnored && sc.Status != ScrapyRefused {
			t.Errorf("%s: status %q", sc.Name, sc.Status)
		}
		if sc.Why == "" || !strings.HasSuffix(sc.Why, ".") {
			t.Errorf("%s: why must be a sentence, got %q", sc.Name, sc.Why)
		}
		if sc.Status == ScrapyRefused {
			got, _ := json.Marshal(sc.Unless)
			want, _ := json.Marshal(def)
			if string(got) != string(want) {
				t.Errorf("%s: accepted value %s, Scrapy's default is %s", sc.Name, got, want)
			}
			if err := refused(sc.Name, sc.Unless); err != nil {
				t.Errorf("%s: its default is refused: %v", sc.Name, err)
			}
		}
	}
	for _, d := range Table() {
		for _, n := range append([]string{d.Name}, d.Aliases...) {
			if _, ok := ref.Settings[n]; ok && strings.Contains(d.Doc, "Not in Scrapy") {
				t.Errorf("%s says \"Not in Scrapy\" but Scrapy %s has it", n, ref.Version)
			}
		}
	}
	if _, ok := ref.Settings["SHUTDOWN_GRACE_PERIOD"]; ok {
		t.Error("SHUTDOWN_GRACE_PERIOD clashes with a Scrapy setting")
	}
}

// scrapyClassification lists Scrapy's settings by what spiderrun does with
// them, each sorted by name: implemented (in the table), ignored, refused.
func scrapyClassification(ref scrapyReference) (implemented []string, ignored, refusedList []ScrapySetting) {
	for name := range ref.Settings {
		if _, ok := Lookup(name); ok {
			implemented = append(implemented, name)
		}
	}
	sort.Strings(implemented)
	for _, sc := range ScrapySettings() {
		if _, ok := ref.Settings[sc.Name]; !ok {
			continue
		}
		if sc.Status == ScrapyRefused {
			refusedList = append(refusedList, sc)
		} else {
			ignored = append(ignored, sc)
		}
	}
	return implemented, ignored, refusedList
}

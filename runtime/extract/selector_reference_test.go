package extract

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/reftest"
)

// selRefCase is one case of testdata/reference/selectors/cases.json
// (gen.py documents the fields).
type selRefCase struct {
	Name    string `json:"name"`
	Doc     string `json:"doc"`
	Fixture string `json:"fixture"`
	Type    string `json:"type"`
	Steps   []struct {
		CSS        string            `json:"css"`
		XPath      string            `json:"xpath"`
		Namespaces map[string]string `json:"namespaces"`
		Vars       map[string]any    `json:"vars"`
	} `json:"steps"`
	Out     string `json:"out"`
	Pattern string `json:"pattern"`
	Strip   bool   `json:"strip"`
}

// selectorDifferences are the cases where we differ from Debian's parsel
// 1.7.0 on purpose (specs/scrapy-differences.md), with what we give
// instead. The test fails if parsel starts agreeing with us, so a stale
// entry does not linger.
var selectorDifferences = map[string]struct {
	why  string
	ours any
}{
	"C1 reference through cp1252": {"as browsers and parsel >= 1.8 (lxml's HTML5-aware parsing): &#133; is U+2026 (cp1252), not the C1 control U+0085",
		[]string{"\u2026"}},
	"xml css": {"as parsel >= 1.8: a document starting with an XML declaration is parsed as XML (names keep their case)",
		[]string{"<Title>Hi</Title>"}},
	"xml declaration detected": {"as parsel >= 1.8: a document starting with an XML declaration is parsed as XML",
		[]string{"Hi"}},
	"attrib of text": {"Attrib of a text or attribute result is empty (Attrib has no error to return); parsel raises AttributeError",
		[][2]string{}},
	"::text keeps newlines": {"HTML5 parsing, as browsers: a newline right after <pre> is dropped",
		[]string{" a\n  b\n"}},
	"html cdata is comment": {"HTML5 parsing: <![CDATA[ in HTML content is a bogus comment",
		[]string{"<div><!--[CDATA[x<y]]--></div>"}},
	"entity without semicolon": {"HTML5 parsing: legacy named references without ';' (&copy, &amp, &lt) are decoded in text",
		[]string{"© 2023 & fish <3"}},
	"entity nul reference": {"HTML5 parsing: &#0; is U+FFFD, not dropped",
		[]string{"a\ufffdb"}},
	"entity surrogate reference": {"HTML5 parsing: a surrogate reference is U+FFFD, not dropped",
		[]string{"a\ufffdb"}},
	"entity out of range": {"HTML5 parsing: a reference beyond U+10FFFF is U+FFFD, not dropped",
		[]string{"a\ufffdb"}},
	"broken misnested inline": {"HTML5 parsing: the adoption agency reopens <i> after </b>",
		[]string{"<p><b>a<i>b</i></b><i>c</i>d</p>"}},
	"broken stray end p": {"HTML5 parsing: a stray </p> inserts an empty <p>",
		[]string{"<div>a<p></p>b</div>"}},
	"broken p inside p": {"HTML5 parsing: <p> closes the open p; the second </p> inserts an empty <p>",
		[]string{"<p>a</p>", "<p>b</p>", "<p></p>"}},
	"broken table text outside cell": {"HTML5 parsing: text directly in a <table> is foster-parented before it",
		[]string{"x", "<table><tr><td>1</td></tr></table>"}},
	"broken unclosed attribute quote": {"HTML5 parsing: an unterminated attribute value runs to the end of the page, so no <a> is emitted",
		[]string{}},
	"broken duplicate body": {"HTML5 parsing: a second <body> adds its attributes to the first",
		[]string{"1", "2"}},
	"broken self-closing div": {"HTML5 parsing: <div/> is a start tag, the text goes inside it",
		[]string{"<div>a</div>"}},
	"broken text before html": {"HTML5 parsing: text before <html> goes straight into <body>, not into an implied <p>",
		[]string{"hello", "<p>x</p>"}},
	"broken form in form": {"HTML5 parsing: a nested <form> start tag is ignored",
		[]string{"1"}},
	"broken missing gt": {"HTML5 parsing: '</p<p>' is one (ignored) end tag named 'p<p'",
		[]string{"<p>ab</p>"}},
	"broken textarea raw": {"HTML5 parsing: textarea content is text, not markup",
		[]string{"<b>x</b>"}},
	"broken title raw": {"HTML5 parsing: title content is text, not markup",
		[]string{"a <b> c"}},
	"xml css attribute name case": {"cascadia lower-cases the attribute names of a selector, so CSS attribute " +
		"selectors on XML match any case (type selectors are checked against the real names; XPath is exact)",
		[]string{`<e Foo="1"/>`, `<e foo="2"/>`}},
	"xpath sum": {"antchfx/xpath's sum() adds the values strconv.ParseFloat reads and skips the others; lxml gives NaN " +
		"if one is no XPath number (antchfx/xpath has no function hook to replace it)",
		[]string{"0.0"}},
	"xpath id()": {"antchfx/xpath has no id() (and no function hook): an error, where lxml looks the ids up",
		oursError{}},
	"xpath lang()": {"antchfx/xpath has no lang() (and no function hook): an error, where lxml reads xml:lang",
		oursError{}},
}

// oursError is the "ours" of a deliberate difference where we fail and
// parsel gives a result.
type oursError struct{}

// selectorKnownBugs are differences from parsel not fixed yet, each with
// where the fix belongs (outside the selector code this test covers). The
// cases are skipped, and fail once we agree with parsel, so the entry is
// removed with the fix.
var selectorKnownBugs = map[string]string{}

// TestSelectorReference compares selectors with parsel on
// testdata/reference/selectors.
func TestSelectorReference(t *testing.T) {
	t.Parallel()
	var data struct {
		Fixtures map[string]string `json:"fixtures"`
		Cases    []selRefCase      `json:"cases"`
	}
	var want map[string]json.RawMessage
	reftest.Load(t, "selectors", "cases.json", &data)
	reftest.Load(t, "selectors", "expected.json", &want)
	// expected.json also records parsel's version (_parsel_version)
	if len(data.Cases)+1 != len(want) || len(data.Cases) < 250 {
		t.Fatalf("%d cases, %d results: regenerate with testdata/reference/regen", len(data.Cases), len(want))
	}
	for name := range selectorDifferences {
		if _, ok := want[name]; !ok {
			t.Errorf("selectorDifferences names no case: %q", name)
		}
	}
	for name := range selectorKnownBugs {
		if _, ok := want[name]; !ok {
			t.Errorf("selectorKnownBugs names no case: %q", name)
		}
	}
	for _, c := range data.Cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			w, ok := want[c.Name]
			if !ok {
				t.Fatal("no expected result: regenerate with testdata/reference/regen")
			}
			got, err := runSelRefCase(c, data.Fixtures)
			var wantErr struct {
				Error string `json:"error"`
			}
			parselRaises := json.Unmarshal(w, &wantErr) == nil && wantErr.Error != ""
			ours, theirs := "error: "+fmt.Sprint(err), canonJSON(t, w)
			if err == nil {
				ours = jsonText(t, got)
			}
			agree := err != nil && parselRaises || err == nil && !parselRaises && ours == theirs
			if why, ok := selectorKnownBugs[c.Name]; ok {
				if agree {
					t.Fatalf("fixed: remove it from selectorKnownBugs (%s)", why)
				}
				t.Skipf("known difference, not fixed yet: %s", why)
			}
			if d, ok := selectorDifferences[c.Name]; ok {
				if _, ok := d.ours.(oursError); ok {
					if parselRaises {
						t.Fatalf("parsel now raises too: remove the difference (%s)", d.why)
					}
					if err == nil {
						t.Errorf("deliberate difference (%s): got %s, want an error", d.why, ours)
					}
					return
				}
				if jsonText(t, d.ours) == theirs {
					t.Fatalf("parsel now agrees with us: remove the difference (%s)", d.why)
				}
				if want := jsonText(t, d.ours); ours != want {
					t.Errorf("deliberate difference (%s): got %s, want %s", d.why, ours, want)
				}
				return
			}
			if !agree {
				t.Errorf("\ngot    %s\nparsel %s", ours, theirs)
			}
		})
	}
}

// runSelRefCase runs a case the way gen.py runs it through parsel.
func runSelRefCase(c selRefCase, fixtures map[string]string) (any, error) {
	doc := c.Doc
	if c.Fixture != "" {
		doc = fixtures[c.Fixture]
	}
	s, err := NewSelector(doc, c.Type)
	if err != nil {
		return nil, err
	}
	cur := SelectorList{s}
	for _, st := range c.Steps {
		if st.CSS != "" {
			cur, err = cur.CSS(st.CSS)
		} else {
			cur, err = cur.XPathWith(st.XPath, XPathOptions{Vars: st.Vars, Namespaces: st.Namespaces})
		}
		if err != nil {
			return nil, err
		}
	}
	var res []string
	switch c.Out {
	case "", "getall":
		res = cur.GetAll()
	case "get":
		if v, ok := cur.First(); ok {
			return v, nil
		}
		return nil, nil
	case "attrib":
		pairs := [][2]string{}
		for _, a := range cur.Attrib() {
			pairs = append(pairs, [2]string{a.Name, a.Value})
		}
		return pairs, nil
	case "re":
		if res, err = cur.Re(c.Pattern); err != nil {
			return nil, err
		}
	case "re_first":
		const none = "\x00none"
		v, err := cur.ReFirst(c.Pattern, none)
		if err != nil || v == none {
			return nil, err
		}
		return v, nil
	}
	if c.Strip {
		kept := []string{}
		for _, v := range res {
			if v = strings.TrimSpace(v); v != "" {
				kept = append(kept, v)
			}
		}
		res = kept
	}
	if res == nil {
		res = []string{}
	}
	return res, nil
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// canonJSON re-encodes a value of expected.json the way jsonText encodes ours.
func canonJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return jsonText(t, v)
}

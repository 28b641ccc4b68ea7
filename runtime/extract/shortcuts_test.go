package extract

import (
	"strings"
	"testing"
	"unsafe"
)

// TestDecodeBodyFastSameAsDecodeBody: the UTF-8 shortcut Root takes gives
// DecodeBody's text and encoding name for every way a charset is (or is
// not) declared, valid or not.
func TestDecodeBodyFastSameAsDecodeBody(t *testing.T) {
	bodies := []string{
		"<p>plain ascii</p>",
		"<p>caf\xc3\xa9</p>",
		"<p>caf\xe9</p>", // latin-1 bytes: not UTF-8
		"\xef\xbb\xbf<p>bom caf\xc3\xa9</p>",
		"\xff\xfe<\x00p\x00>\x00",
		`<meta charset="utf-8"><p>caf` + "\xc3\xa9",
		`<meta charset="utf-8"><p>caf` + "\xe9",
		`<meta charset="windows-1251"><p>` + "\xcf\xf0\xe8",
		`<meta http-equiv="Content-Type" content="text/html; charset=UTF8"><p>x`,
		`<meta charset="no-such-charset"><p>caf` + "\xc3\xa9",
		`<?xml version="1.0" encoding="iso-8859-1"?><a>caf` + "\xe9</a>",
		"",
	}
	headers := []string{
		"", "text/html", "text/html; charset=utf-8", "text/html; charset=UTF-8",
		"text/html; charset=\"utf8\"", "text/html; charset=latin1", "text/html; charset=bogus",
		"text/html; charset=shift_jis", "text/html;; charset=utf-8", "text/html; charset=utf-16",
	}
	n := 0
	for _, body := range bodies {
		for _, ct := range headers {
			wantText, wantEnc := DecodeBody([]byte(body), ct)
			gotText, gotEnc := decodeBodyFast([]byte(body), ct)
			n++
			if gotText != wantText || gotEnc != wantEnc {
				t.Errorf("body %q, Content-Type %q: got (%q, %q), want (%q, %q)", body, ct, gotText, gotEnc, wantText, wantEnc)
			}
		}
	}
	if n != len(bodies)*len(headers) {
		t.Fatalf("compared %d cases", n)
	}
}

// TestTrimHTML5SpaceSameAsStrip: the link extractor's trim is
// stripHTML5Whitespace.
func TestTrimHTML5SpaceSameAsStrip(t *testing.T) {
	for _, s := range []string{"", " ", "\t\n\r\f ", " /a ", "\f/a\tb\n", "/a", "\u00a0/a\u00a0", " \v/a\v ", "x "} {
		if got, want := trimHTML5Space(s), stripHTML5Whitespace(s); got != want {
			t.Errorf("%q: got %q, want %q", s, got, want)
		}
	}
}

// TestDeniedExtensionSameAsSuffixScan: the indexed extension test answers
// as lower-casing the path and testing every denied extension as a suffix
// does, for Scrapy's list and for custom ones with dots and odd cases.
func TestDeniedExtensionSameAsSuffixScan(t *testing.T) {
	custom := []string{"tar.gz", "JSON", "", "a/b", "ü"}
	paths := []string{"", "/", "/a", "/a.", "/a.jpg", "/A.JPG", "/x.tar.gz", "/x.TAR.GZ", "/x.gz", "/x.targz",
		"/dir.jpg/", "/dir.jpg/file", "/a.json", "/a.JsOn", "/f.a/b", "/f.Ü", "/f.ü", "/.", "/a.jpeg.html", "/p.pdf?x"}
	for _, exts := range [][]string{nil, custom, {}} {
		le, err := NewLinkExtractor(LinkExtractorOptions{DenyExtensions: exts})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			want := false
			lp := strings.ToLower(p)
			for _, e := range le.denyExt {
				if strings.HasSuffix(lp, e) {
					want = true
				}
			}
			if got := le.deniedExtension(p); got != want {
				t.Errorf("extensions %v, path %q: got %v, want %v", exts, p, got, want)
			}
		}
	}
}

// TestValuesDoNotPinPage: the parser's strings are substrings of the page
// (internal/html5), so what leaves this package (Get, Attrib, link URLs
// and texts) must be copies, or one kept value would keep its whole page
// alive.
func TestValuesDoNotPinPage(t *testing.T) {
	page := `<html><body><a href="https://other.test/abs" title="T">Label</a><a href=" /rel ">Two</a><p>text</p></body></html>`
	resp := benchResponse(page)
	text := Text(resp)
	inPage := func(s string) bool {
		if len(s) == 0 {
			return false
		}
		p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(text)))
		return p >= lo && p < lo+uintptr(len(text))
	}
	root, err := Root(resp)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, q := range []string{"a::attr(href)", "a::text", "p::text", "a::attr(title)"} {
		l, err := root.CSS(q)
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, l.GetAll()...)
	}
	l, err := root.XPath("string(//p)")
	if err != nil {
		t.Fatal(err)
	}
	values = append(values, l.GetAll()...)
	a, err := root.CSS("a")
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range a.Attrib() {
		values = append(values, at.Name, at.Value)
	}
	le, err := NewLinkExtractor(LinkExtractorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	links, err := le.ExtractLinks(resp)
	if err != nil {
		t.Fatal(err)
	}
	for _, lk := range links {
		values = append(values, lk.URL, lk.Text)
	}
	if len(values) < 12 {
		t.Fatalf("only %d values: %q", len(values), values)
	}
	for _, v := range values {
		if inPage(v) {
			t.Errorf("%q shares the page's memory", v)
		}
	}
	// The tree itself does point into the page: that is the point of the
	// fork, and what makes the copies above necessary.
	if n := a[0].Node(); !inPage(n.Attr[0].Val) {
		t.Errorf("attribute %q was copied by the parser; expected a substring of the page", n.Attr[0].Val)
	}
}

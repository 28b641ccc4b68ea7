package extract

import (
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

func encode(t *testing.T, enc encoding.Encoding, s string) []byte {
	t.Helper()
	b, err := enc.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	const zh, ja, fr = "价格：十元", "価格は千円です", "café crème £5"
	utf16le := append([]byte{0xFF, 0xFE}, encode(t, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "<p>"+fr+"</p>")...)
	cases := []struct {
		name, ct string
		body     []byte
		wantText string // substring that must decode
		wantEnc  string
	}{
		{"gbk from header", "text/html; charset=GBK", encode(t, simplifiedchinese.GBK, "<p>"+zh+"</p>"), zh, "gbk"},
		{"gb2312 label reads as gbk", "text/html; charset=gb2312", encode(t, simplifiedchinese.GBK, "<p>"+zh+"</p>"), zh, "gbk"},
		{"gb18030 header", "text/html; charset=gb18030", encode(t, simplifiedchinese.GB18030, "<p>"+zh+"</p>"), zh, "gb18030"},
		{"shift_jis from meta only", "text/html", encode(t, japanese.ShiftJIS, `<html><head><meta charset="Shift_JIS"></head><body>`+ja+`</body></html>`), ja, "shift_jis"},
		{"shift_jis from http-equiv", "", encode(t, japanese.ShiftJIS, `<meta http-equiv="Content-Type" content="text/html; charset=shift_jis"><p>`+ja), ja, "shift_jis"},
		{"windows-1252 header", "text/html; charset=windows-1252", encode(t, charmap.Windows1252, "<p>"+fr+"</p>"), fr, "windows-1252"},
		{"latin-1 label reads as windows-1252", "text/html; charset=ISO-8859-1", []byte("<p>\x93quoted\x94</p>"), "\u201cquoted\u201d", "windows-1252"},
		{"header beats meta", "text/html; charset=utf-8", []byte(`<meta charset="gbk"><p>` + fr + `</p>`), fr, "utf-8"},
		{"BOM beats header", "text/html; charset=gbk", append([]byte{0xEF, 0xBB, 0xBF}, []byte("<p>"+fr+"</p>")...), fr, "utf-8"},
		{"utf-16 BOM", "text/html; charset=windows-1252", utf16le, fr, "utf-16le"},
		{"xml declaration", "application/xml", encode(t, charmap.ISO8859_1, `<?xml version="1.0" encoding="ISO-8859-1"?><r>`+fr+`</r>`), fr, "windows-1252"},
		{"detection: valid utf-8", "text/html", []byte("<p>" + fr + "</p>"), fr, "utf-8"},
		{"detection: otherwise windows-1252", "", encode(t, charmap.Windows1252, "<p>"+fr+"</p>"), fr, "windows-1252"},
		{"unknown label falls through to detection", "text/html; charset=x-bogus", []byte("<p>" + fr + "</p>"), fr, "utf-8"},
		{"invalid bytes replaced", "text/html; charset=utf-8", []byte("<p>a\xffb</p>"), "a\ufffdb", "utf-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text, enc := DecodeBody(tc.body, tc.ct)
			if enc != tc.wantEnc {
				t.Errorf("encoding %q, want %q", enc, tc.wantEnc)
			}
			if !contains(text, tc.wantText) {
				t.Errorf("text %q does not contain %q", text, tc.wantText)
			}
		})
	}
}

func contains(s, sub string) bool { return len(sub) == 0 || indexOf(s, sub) >= 0 }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestResponseSelectorsDecodeCharset(t *testing.T) {
	t.Parallel()
	body := encode(t, japanese.ShiftJIS, `<html><head><meta charset="shift_jis"></head><body><h1>価格</h1><a href="/検索?q=本">本</a></body></html>`)
	resp := htmlResponse("http://jp.test/", string(body), "text/html")
	root, err := Root(resp)
	if err != nil {
		t.Fatal(err)
	}
	h1, _ := root.CSS("h1::text")
	if h1.Get() != "価格" {
		t.Errorf("h1: %q", h1.Get())
	}
	if Encoding(resp) != "shift_jis" {
		t.Errorf("encoding: %q", Encoding(resp))
	}
	le, _ := NewLinkExtractor(LinkExtractorOptions{})
	links, err := le.ExtractLinks(resp)
	if err != nil {
		t.Fatal(err)
	}
	// path in UTF-8, query in the page encoding (as browsers and w3lib do)
	if len(links) != 1 || links[0].URL != "http://jp.test/%E6%A4%9C%E7%B4%A2?q=%96%7B" {
		t.Errorf("links: %v", links)
	}
	// Root is memoized: the same selector comes back
	again, _ := Root(resp)
	if again != root {
		t.Error("Root is not memoized")
	}
}

func TestURLHelpers(t *testing.T) {
	t.Parallel()
	resp := htmlResponse("http://www.example.com/a/b.html", `<html><head><base href="/base/"></head></html>`)
	for ref, want := range map[string]string{
		"c.html":            "http://www.example.com/base/c.html",
		"../up":             "http://www.example.com/up",
		"//cdn.test/x":      "http://cdn.test/x",
		"?q=a b":            "http://www.example.com/base/?q=a%20b",
		"#frag":             "http://www.example.com/base/#frag",
		"https://other/x y": "https://other/x%20y",
	} {
		got, err := URLJoin(resp, ref)
		if err != nil || got != want {
			t.Errorf("URLJoin(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	// Canonicalize and SafeString are tested in runtime/weburl.
}

// TestOneBaseURL: forms, response.urljoin and link extraction see the same
// base URL, get_base_url's: a <base> inside a comment does not count.
func TestOneBaseURL(t *testing.T) {
	t.Parallel()
	resp := htmlResponse("http://www.example.com/a/b.html",
		`<html><head><!-- <base href="http://old.test/"> --><base href="/base/"></head>`+
			`<body><a href="c.html">c</a><form action="f"></form></body></html>`)
	if u, err := BaseURL(resp); err != nil || u.String() != "http://www.example.com/base/" {
		t.Errorf("BaseURL = %v, %v", u, err)
	}
	if got, err := URLJoin(resp, "c.html"); err != nil || got != "http://www.example.com/base/c.html" {
		t.Errorf("URLJoin = %q, %v", got, err)
	}
	le, err := NewLinkExtractor(LinkExtractorOptions{})
	if err != nil {
		t.Fatal(err)
	}
	links, err := le.ExtractLinks(resp)
	if err != nil || len(links) != 1 || links[0].URL != "http://www.example.com/base/c.html" {
		t.Errorf("links %v, %v", links, err)
	}
	req, err := FormRequest(resp, FormOptions{})
	if err != nil || req.URL != "http://www.example.com/base/f" {
		t.Errorf("form request %v, %v", req, err)
	}
}

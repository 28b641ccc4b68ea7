package extract

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spiderrun/spiderrun/internal/reftest"
)

// formCase is one row of testdata/reference/forms/cases.json.
type formCase struct {
	Name        string `json:"name"`
	Page        string `json:"page"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Opts        struct {
		FormName   string         `json:"formname"`
		FormID     string         `json:"formid"`
		FormNumber int            `json:"formnumber"`
		FormXPath  string         `json:"formxpath"`
		FormCSS    string         `json:"formcss"`
		FormData   [][2]any       `json:"formdata"`
		ClickData  map[string]any `json:"clickdata"`
		DontClick  bool           `json:"dont_click"`
		Method     string         `json:"method"`
		URL        string         `json:"url"`
	} `json:"opts"`
}

type formResult struct {
	Error       string `json:"error"`
	Method      string `json:"method"`
	URL         string `json:"url"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"`
}

// formDifferences are the cases where we differ from Scrapy on purpose
// (specs/scrapy-differences.md): Scrapy parses with libxml2, which keeps a
// form's inputs inside it where the HTML5 parser (what browsers do, and
// what every selector of ours sees) moves them out or drops a nested form.
var formDifferences = map[string]struct {
	why  string
	ours formResult // what we return instead, pinned so a change is noticed
}{
	"nested form outer": {why: "HTML5 parsing: a nested <form> start tag is ignored, so the outer form holds every input",
		ours: formResult{Method: "POST", URL: "http://www.example.com/outer", Body: "o1=1&i1=2", ContentType: formURLEncoded}},
	"nested form inner": {why: "HTML5 parsing: the nested form does not exist; formid falls back to formnumber 0",
		ours: formResult{Method: "POST", URL: "http://www.example.com/table", Body: "cell=c1&tsub=ts", ContentType: formURLEncoded}},
	"self-closing textarea": {why: "HTML5 parsing, as browsers do: <textarea/> is a start tag, its text runs to </textarea> or the end of the page",
		ours: formResult{Method: "GET", URL: "http://example.com?i3=%3Cinput+name%3D%22after_selfclosing_textarea%22+value%3D%22x%22%3E%0A%3C%2Fform%3E%0A"}},
	"structure form count": {why: "HTML5 parsing: the nested form does not exist, so there is no fourth form",
		ours: formResult{Error: "http://www.example.com/this/list.html: form number 3 not found (3 forms)"}},
	"textarea and option markup": {why: "HTML5 parsing, as browsers submit: a textarea's text is raw (no child elements, " +
		"entities decoded, the leading newline dropped); markup inside an <option> is dropped, its text kept",
		ours: formResult{Method: "POST", URL: "http://www.example.com/parser",
			Body: "ta_newline=first+line%0Asecond&ta_markup=%3Cb%3Ex%3C%2Fb%3E+%26+y&child_markup=", ContentType: formURLEncoded}},
}

const formURLEncoded = "application/x-www-form-urlencoded"

// TestFormRequestReference compares FormRequest with Scrapy 2.8's
// FormRequest.from_response on testdata/reference/forms.
func TestFormRequestReference(t *testing.T) {
	t.Parallel()
	reftest.Each(t, "forms", "cases.json", "expected.json", func(t *testing.T, c formCase, exp formResult) {
		page, err := os.ReadFile(filepath.Join(reftest.Dir("forms"), c.Page))
		if err != nil {
			t.Fatal(err)
		}
		u := c.URL
		if u == "" {
			u = "http://www.example.com/this/list.html"
		}
		ct := c.ContentType
		if ct == "" {
			ct = "text/html; charset=utf-8"
		}
		opts := FormOptions{
			FormName: c.Opts.FormName, FormID: c.Opts.FormID, FormNumber: c.Opts.FormNumber,
			FormXPath: c.Opts.FormXPath, FormCSS: c.Opts.FormCSS, ClickData: c.Opts.ClickData,
			DontClick: c.Opts.DontClick, Method: c.Opts.Method, URL: c.Opts.URL,
		}
		for _, kv := range c.Opts.FormData {
			name := kv[0].(string)
			switch v := kv[1].(type) {
			case nil:
				opts.FormData = append(opts.FormData, FormField{Name: name, Null: true})
			case string:
				opts.FormData = append(opts.FormData, FormField{Name: name, Value: v})
			case []any:
				for _, e := range v {
					opts.FormData = append(opts.FormData, FormField{Name: name, Value: e.(string)})
				}
			}
		}
		req, err := FormRequest(htmlResponse(u, string(page), ct), opts)
		var got formResult
		if err != nil {
			got.Error = err.Error()
		} else {
			got = formResult{Method: req.Method, URL: req.URL, Body: string(req.Body), ContentType: req.Headers.Get("Content-Type")}
		}
		if d, ok := formDifferences[c.Name]; ok {
			if got == exp {
				t.Errorf("marked as a deliberate difference (%s) but equal to Scrapy now: drop the mark", d.why)
			}
			if got != d.ours {
				t.Errorf("differs from Scrapy on purpose (%s), but no longer as pinned:\n got    %+v\n pinned %+v\n scrapy %+v", d.why, got, d.ours, exp)
			}
			return
		}
		if exp.Error != "" || got.Error != "" {
			if exp.Error == "" || got.Error == "" {
				t.Errorf("got %+v\nscrapy %+v", got, exp)
			}
			return
		}
		if got != exp {
			t.Errorf("\n got    %+v\n scrapy %+v", got, exp)
		}
	})
}

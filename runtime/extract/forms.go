package extract

import (
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/text/encoding"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// FormField is one form value. Several fields may share a name (a
// multi-valued field). Null removes the form's own field of that name, as
// formdata={"name": None} does in Scrapy.
type FormField struct {
	Name  string
	Value string
	Null  bool
}

// FormOptions are the arguments of Scrapy's FormRequest.from_response.
// The form is chosen by FormName, then FormID, then FormXPath/FormCSS (the
// first match or its nearest <form> ancestor), then FormNumber.
type FormOptions struct {
	FormName   string
	FormID     string
	FormXPath  string
	FormCSS    string
	FormNumber int
	// FormData overrides or adds fields, in order.
	FormData []FormField
	// ClickData picks the clicked submit control by attribute values; the
	// key "nr" selects the nr-th input/select/textarea of the form instead.
	ClickData map[string]any
	// DontClick submits without any submit button's name/value.
	DontClick bool
	// Method overrides the form's method (only GET and POST; anything else
	// is GET, as in Scrapy).
	Method string
	// URL overrides the form's action (joined with the page's base URL).
	URL string
}

// FormRequest builds the request a browser would send when submitting a
// form of resp, with Scrapy's from_response semantics: hidden and other
// successful inputs carried (checkboxes and radios only when checked, a
// select's selected option or its first one, textarea text), the first
// submit control clicked unless DontClick or ClickData say otherwise,
// FormData applied last. A GET form puts the fields in the query string
// (replacing the action's query); a POST form sends them form-encoded.
// Names and values are encoded in the page's encoding.
func FormRequest(resp *crawl.Response, opts FormOptions) (*crawl.Request, error) {
	root, err := Root(resp)
	if err != nil {
		return nil, err
	}
	form, err := findForm(resp, root, opts)
	if err != nil {
		return nil, err
	}
	pairs, err := formInputs(form, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", resp.URL, err)
	}
	base, err := BaseURL(resp)
	if err != nil {
		return nil, err
	}
	action := opts.URL
	if action == "" {
		if v, ok := form.AttribValue("action"); ok {
			action = stripHTML5Whitespace(v)
		}
	}
	target := base.String()
	if action != "" {
		if target, err = weburl.Join(base, action, nil); err != nil {
			return nil, fmt.Errorf("%s: form action %q: %w", resp.URL, action, err)
		}
	}
	method := opts.Method
	if method == "" {
		method, _ = form.AttribValue("method")
	}
	method = strings.ToUpper(strings.TrimSpace(method))
	if method != "POST" {
		method = "GET"
	}
	enc := queryEncoding(Encoding(resp))
	query := encodeForm(pairs, enc)
	req := &crawl.Request{URL: target, Method: method}
	if method == "POST" {
		req.Body = []byte(query)
		req.Headers.Set("Content-Type", "application/x-www-form-urlencoded")
		return req, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("%s: form url %q: %w", resp.URL, target, err)
	}
	u.RawQuery = query
	u.ForceQuery = false
	req.URL = u.String()
	return req, nil
}

func findForm(resp *crawl.Response, root *Selector, opts FormOptions) (*Selector, error) {
	forms, err := root.XPath("//form")
	if err != nil {
		return nil, err
	}
	if len(forms) == 0 {
		return nil, fmt.Errorf("%s: no <form> element found", resp.URL)
	}
	if opts.FormName != "" {
		if f, _ := root.XPath("//form[@name=$v]", map[string]any{"v": opts.FormName}); len(f) > 0 {
			return f[0], nil
		}
	}
	if opts.FormID != "" {
		if f, _ := root.XPath("//form[@id=$v]", map[string]any{"v": opts.FormID}); len(f) > 0 {
			return f[0], nil
		}
	}
	if opts.FormXPath != "" || opts.FormCSS != "" {
		var (
			nodes SelectorList
			what  string
		)
		if opts.FormCSS != "" {
			nodes, err = root.CSS(opts.FormCSS)
			what = "formcss " + opts.FormCSS
		} else {
			nodes, err = root.XPath(opts.FormXPath)
			what = "formxpath " + opts.FormXPath
		}
		if err != nil {
			return nil, err
		}
		if len(nodes) > 0 && nodes[0].node != nil {
			for n := nodes[0].node; n != nil; n = n.Parent {
				if n.Type == html.ElementNode && n.Data == "form" {
					return &Selector{doc: root.doc, node: n, kind: kindNode}, nil
				}
			}
		}
		return nil, fmt.Errorf("%s: no <form> element found with %s", resp.URL, what)
	}
	if opts.FormNumber < 0 || opts.FormNumber >= len(forms) {
		return nil, fmt.Errorf("%s: form number %d not found (%d forms)", resp.URL, opts.FormNumber, len(forms))
	}
	return forms[opts.FormNumber], nil
}

type formPair struct{ k, v string }

const formInputsXPath = `descendant::textarea|descendant::select|descendant::input[not(@type) or @type[not(re:test(., "^(?:submit|image|reset)$", "i")) and (../@checked or not(re:test(., "^(?:checkbox|radio)$", "i")))]]`

const clickablesXPath = `descendant::input[re:test(@type, "^(submit|image)$", "i")]|descendant::button[not(@type) or re:test(@type, "^submit$", "i")]`

func formInputs(form *Selector, opts FormOptions) ([]formPair, error) {
	override := map[string]bool{}
	for _, f := range opts.FormData {
		override[f.Name] = true
	}
	inputs, err := form.XPath(formInputsXPath)
	if err != nil {
		return nil, err
	}
	var out []formPair
	for _, in := range inputs {
		name, _ := in.AttribValue("name")
		if name == "" || override[name] {
			continue
		}
		for _, v := range inputValues(in) {
			out = append(out, formPair{name, v})
		}
	}
	if !opts.DontClick {
		name, value, ok, err := clickable(form, opts.ClickData)
		if err != nil {
			return nil, err
		}
		if ok && name != "" && !override[name] {
			out = append(out, formPair{name, value})
		}
	}
	for _, f := range opts.FormData {
		if !f.Null {
			out = append(out, formPair{f.Name, f.Value})
		}
	}
	return out, nil
}

// inputValues is lxml's element .value as Scrapy reads it.
func inputValues(in *Selector) []string {
	n := in.node
	switch n.Data {
	case "textarea":
		return []string{stringValue(n)}
	case "select":
		_, multiple := in.AttribValue("multiple")
		var selected, all []string
		var walk func(*html.Node)
		walk = func(c *html.Node) {
			for ; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && c.Data == "option" {
					v, ok := nodeAttr(c, "value")
					if !ok {
						v = strings.TrimSpace(stringValue(c))
					}
					all = append(all, v)
					if _, sel := nodeAttr(c, "selected"); sel {
						selected = append(selected, v)
					}
					continue
				}
				if c.Type == html.ElementNode {
					walk(c.FirstChild)
				}
			}
		}
		walk(n.FirstChild)
		if multiple {
			return selected
		}
		if len(selected) > 0 {
			return selected[:1]
		}
		if len(all) > 0 {
			return all[:1]
		}
		return nil
	}
	typ, _ := in.AttribValue("type")
	v, ok := in.AttribValue("value")
	switch strings.ToLower(typ) {
	case "checkbox", "radio":
		if !ok || v == "" {
			v = "on"
		}
	}
	return []string{v}
}

func nodeAttr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key && a.Namespace == "" {
			return a.Val, true
		}
	}
	return "", false
}

func clickable(form *Selector, clickdata map[string]any) (name, value string, ok bool, err error) {
	clickables, err := form.XPath(clickablesXPath)
	if err != nil || len(clickables) == 0 {
		return "", "", false, err
	}
	pick := func(s *Selector) (string, string, bool, error) {
		n, _ := s.AttribValue("name")
		v, _ := s.AttribValue("value")
		return n, v, true, nil
	}
	if clickdata == nil {
		return pick(clickables[0])
	}
	if nr, has := clickdata["nr"]; has {
		idx := -1
		switch x := nr.(type) {
		case int:
			idx = x
		case int64:
			idx = int(x)
		case float64:
			idx = int(x)
		}
		all, _ := form.XPath("descendant::input|descendant::select|descendant::textarea")
		if idx >= 0 && idx < len(all) {
			return pick(all[idx])
		}
	}
	q := ".//*"
	vars := map[string]any{}
	i := 0
	for k, v := range clickdata {
		if k == "nr" {
			continue
		}
		if !isXMLName(k) {
			return "", "", false, fmt.Errorf("clickdata key %q is not an attribute name", k)
		}
		name := fmt.Sprintf("c%d", i)
		q += "[@" + k + "=$" + name + "]"
		vars[name] = fmt.Sprint(v)
		i++
	}
	els, err := form.XPath(q, vars)
	if err != nil {
		return "", "", false, err
	}
	switch len(els) {
	case 1:
		return pick(els[0])
	case 0:
		return "", "", false, fmt.Errorf("no clickable element matching clickdata %v", clickdata)
	default:
		return "", "", false, fmt.Errorf("multiple elements (%d) match clickdata %v", len(els), clickdata)
	}
}

func isXMLName(s string) bool {
	if s == "" || !isNameStart(s[0]) {
		return false
	}
	return nameLen(s) == len(s)
}

// encodeForm is Python's urlencode over values encoded in the page's
// encoding (quote_plus).
func encodeForm(pairs []formPair, enc encoding.Encoding) string {
	var b strings.Builder
	conv := func(s string) string {
		if enc == nil || isASCII(s) {
			return s
		}
		if out, err := encoding.ReplaceUnsupported(enc.NewEncoder()).String(s); err == nil {
			return out
		}
		return s
	}
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(weburl.QuotePlus(conv(p.k)))
		b.WriteByte('=')
		b.WriteString(weburl.QuotePlus(conv(p.v)))
	}
	return b.String()
}

// EncodeFormData url-encodes ordered fields as new FormRequest({formdata})
// does (UTF-8, quote_plus); Null fields are skipped.
func EncodeFormData(fields []FormField) string {
	pairs := make([]formPair, 0, len(fields))
	for _, f := range fields {
		if !f.Null {
			pairs = append(pairs, formPair{f.Name, f.Value})
		}
	}
	return encodeForm(pairs, nil)
}

package extract

import (
	"fmt"
	"net/url"
	"slices"
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
// (replacing the action's query); a POST form sends them form-encoded;
// with no field at all the action is left as it is and no body is set.
// Names and values are encoded in the page's encoding, and a character it
// cannot represent is an error, as in Scrapy (UnicodeEncodeError).
// testdata/reference/forms holds Scrapy 2.8's answers on tricky forms.
func FormRequest(resp *crawl.Response, opts FormOptions) (*crawl.Request, error) {
	root, err := Root(resp)
	if err != nil {
		return nil, err
	}
	form, err := findForm(resp, root, opts)
	if err != nil {
		return nil, err
	}
	scope := formScope{form: form, root: root, owned: tableFormControls(root.node, form.node, Text(resp))}
	pairs, err := formInputs(scope, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", resp.URL, err)
	}
	enc := queryEncoding(Encoding(resp))
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
		if target, err = weburl.Join(base, action, enc); err != nil {
			return nil, fmt.Errorf("%s: form action %q: %w", resp.URL, action, err)
		}
	}
	method := opts.Method
	if method == "" {
		method, _ = form.AttribValue("method")
	}
	// Scrapy upper-cases the method and sends anything but GET or POST
	// (" post " included) as GET.
	method = strings.ToUpper(method)
	if method != "POST" {
		method = "GET"
	}
	query, err := encodeForm(pairs, enc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", resp.URL, err)
	}
	req := &crawl.Request{URL: target, Method: method}
	if len(pairs) == 0 {
		// No field at all: Scrapy sets neither a body (nor its
		// Content-Type) nor a query; a GET action keeps its own query.
		return req, nil
	}
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

// formScope is where a form's controls are looked for: the form's
// descendants, or, for a form the HTML5 parser closed at once (see
// tableFormControls), the owned controls anywhere in the document.
type formScope struct {
	form, root *Selector
	owned      map[*html.Node]int // control -> its position in the source; nil: the form's descendants
}

// XPath evaluates q, written relative to the form, in the scope.
func (s formScope) XPath(q string, vars ...map[string]any) (SelectorList, error) {
	if s.owned == nil {
		return s.form.XPath(q, vars...)
	}
	all, err := s.root.XPath(q, vars...)
	if err != nil {
		return nil, err
	}
	var out SelectorList
	for _, el := range all {
		if _, ok := s.owned[el.node]; ok {
			out = append(out, el)
		}
	}
	// Source order, as lxml has them: the parser moves an input written
	// directly in a table before the table.
	slices.SortStableFunc(out, func(a, b *Selector) int { return s.owned[a.node] - s.owned[b.node] })
	return out, nil
}

// tableFormControls handles a <form> written directly in a table
// (<table><form><tr><td><input>...</form></table>, common on old sites).
// The HTML5 parser inserts such a form and closes it at once, so its
// inputs are not its descendants; browsers still submit them (they are
// associated with the form while it is the parser's open form, until
// </form>), and lxml keeps them inside the form, so Scrapy does too. The
// controls parsed between the form's start and end tags are found by
// tokenizing the page again. It returns nil, and the form's descendants
// are used, for any other form or when the tokens do not line up with the
// tree's elements. As in lxml's tree, the form ends with its table at the
// latest (a browser would keep an unclosed one open further).
func tableFormControls(doc, form *html.Node, text string) map[*html.Node]int {
	if form == nil || !inTableContext(form) {
		return nil
	}
	t := ownersOf(doc, text)
	if t == nil {
		return nil
	}
	k := slices.Index(t.forms, form)
	if k < 0 {
		return nil
	}
	table := form.Parent
	for table != nil && (table.Type != html.ElementNode || table.Data != "table") {
		table = table.Parent // a row may sit in a <template> without a table
	}
	if table == nil {
		return nil
	}
	owned := map[*html.Node]int{}
	for c, tok := range t.token {
		if t.owner[tok] == k && t.order[c] <= t.end[table] {
			owned[c] = tok
		}
	}
	return owned
}

// inTableContext reports whether n is a child of a table, table section or
// row: where the HTML5 parser closes a <form> at once.
func inTableContext(n *html.Node) bool {
	if n.Parent == nil || n.Parent.Type != html.ElementNode || n.Parent.Namespace != "" {
		return false
	}
	switch n.Parent.Data {
	case "table", "tbody", "thead", "tfoot", "tr":
		return true
	}
	return false
}

// formOwners lines the page's form and control start tags up with the
// tree's form and control elements.
type formOwners struct {
	forms      []*html.Node
	token      map[*html.Node]int // control -> its start tag's index among the control tags
	owner      []int              // per control tag: the index of its form, -1 none
	order, end map[*html.Node]int // an element's position in document order, and its last descendant's
}

// ownersOf returns nil when the tokens and the tree do not line up. A
// control element is paired with the next unpaired start tag of the same
// name and name/type/value/id attributes: the parser moves an input
// written directly in a table before the table, so document order alone
// would pair the wrong ones.
func ownersOf(doc *html.Node, text string) *formOwners {
	t := &formOwners{token: map[*html.Node]int{}, order: map[*html.Node]int{}, end: map[*html.Node]int{}}
	var controls []*html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			t.order[c] = len(t.order)
			if c.Namespace == "" {
				switch c.Data {
				case "form":
					t.forms = append(t.forms, c)
				case "input", "select", "textarea", "button":
					controls = append(controls, c)
				}
			}
			walk(c)
			t.end[c] = len(t.order) - 1
		}
	}
	walk(doc)
	sigs, owners, nforms := formOwnersByTokens(text)
	if nforms != len(t.forms) || len(sigs) != len(controls) {
		return nil
	}
	t.owner = owners
	queue := map[string][]int{}
	for i, sig := range sigs {
		queue[sig] = append(queue[sig], i)
	}
	for _, c := range controls {
		sig := controlSignature(c.Data, func(k string) string { v, _ := nodeAttr(c, k); return v })
		q := queue[sig]
		if len(q) == 0 {
			return nil
		}
		t.token[c], queue[sig] = q[0], q[1:]
	}
	return t
}

func controlSignature(tag string, attr func(string) string) string {
	return tag + "\x00" + attr("name") + "\x00" + attr("type") + "\x00" + attr("value") + "\x00" + attr("id")
}

// tableFormOf is the form a control belongs to when that form sits in a
// table (see tableFormControls) and the control is not its descendant;
// nil otherwise.
func tableFormOf(doc, control *html.Node, text string) *html.Node {
	if control.Type != html.ElementNode {
		return nil
	}
	switch control.Data {
	case "input", "select", "textarea", "button":
	default:
		return nil
	}
	t := ownersOf(doc, text)
	if t == nil {
		return nil
	}
	tok, ok := t.token[control]
	if !ok || t.owner[tok] < 0 {
		return nil
	}
	form := t.forms[t.owner[tok]]
	if _, ok := tableFormControls(doc, form, text)[control]; !ok {
		return nil
	}
	return form
}

// formOwnersByTokens replays the HTML5 parser's form element pointer over
// the page's tokens: for each control start tag (input, select, textarea,
// button), its signature and the index of the form open at that point
// (-1: none), and the number of form elements the parser creates.
func formOwnersByTokens(text string) (sigs []string, owners []int, forms int) {
	z := html.NewTokenizer(strings.NewReader(text))
	open, template := -1, 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return sigs, owners, forms
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "form":
				// Ignored while another form is open (outside templates).
				if template > 0 || open < 0 {
					if template == 0 {
						open = forms
					}
					forms++
				}
			case "input", "select", "textarea", "button":
				sigs = append(sigs, controlSignature(tok.Data, func(k string) string {
					for _, a := range tok.Attr {
						if a.Key == k {
							return a.Val
						}
					}
					return ""
				}))
				owners = append(owners, open)
			case "template":
				if tt == html.StartTagToken {
					template++
				}
			case "noscript":
				z.NextIsNotRawText() // the tree is parsed with scripting off
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "form":
				if template == 0 {
					open = -1
				}
			case "template":
				if template > 0 {
					template--
				}
			}
		}
	}
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
			if f := tableFormOf(root.node, nodes[0].node, Text(resp)); f != nil {
				return &Selector{doc: root.doc, node: f, kind: kindNode}, nil
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

func formInputs(form formScope, opts FormOptions) ([]formPair, error) {
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
		// A clicked control with an empty name is sent as "=value", as
		// Scrapy does; one without a name attribute is not sent.
		if ok && !override[name] {
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
		// lxml's SelectElement.value, as Scrapy's _select_value reads it:
		// a single select sends its last selected option, else its first
		// one; an option's value is its value attribute, else its text
		// (lxml's .text: before any child element) stripped. A multiple
		// select sends every selected option, stripped, an empty value
		// attribute falling back to the text.
		_, multiple := in.AttribValue("multiple")
		var selected, all []string
		var walk func(*html.Node)
		walk = func(c *html.Node) {
			for ; c != nil; c = c.NextSibling {
				if c.Type != html.ElementNode {
					continue
				}
				if c.Data == "option" {
					v, ok := nodeAttr(c, "value")
					_, sel := nodeAttr(c, "selected")
					switch {
					case multiple:
						if v == "" {
							v = formLeadingText(c)
						}
						v = strings.TrimSpace(v)
					case !ok:
						v = strings.TrimSpace(formLeadingText(c))
					}
					all = append(all, v)
					if sel {
						selected = append(selected, v)
					}
				}
				walk(c.FirstChild)
			}
		}
		walk(n.FirstChild)
		if multiple {
			return selected
		}
		if len(selected) > 0 {
			return selected[len(selected)-1:]
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

// formLeadingText is lxml's element .text: the text before its first child
// element.
func formLeadingText(n *html.Node) string {
	var b strings.Builder
	for c := n.FirstChild; c != nil && c.Type != html.ElementNode; c = c.NextSibling {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	}
	return b.String()
}

func nodeAttr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key && a.Namespace == "" {
			return a.Val, true
		}
	}
	return "", false
}

func clickable(form formScope, clickdata map[string]any) (name, value string, ok bool, err error) {
	clickables, err := form.XPath(clickablesXPath)
	if err != nil || len(clickables) == 0 {
		return "", "", false, err
	}
	pick := func(s *Selector) (string, string, bool, error) {
		n, named := s.AttribValue("name")
		v, _ := s.AttribValue("value")
		return n, v, named, nil
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
		if idx < 0 {
			idx += len(all) // a Python list index
		}
		if idx >= 0 && idx < len(all) {
			return pick(all[idx])
		}
	}
	q := ".//*"
	vars := map[string]any{}
	i := 0
	// Out of range, "nr" stays a predicate (@nr=...) like the other keys,
	// as in Scrapy, so it matches nothing.
	for k, v := range clickdata {
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

// encodeForm is Python's urlencode over names and values encoded in the
// page's encoding (quote_plus). A character the encoding cannot represent
// is an error, as Scrapy's to_bytes(..., encoding) raises
// UnicodeEncodeError.
func encodeForm(pairs []formPair, enc encoding.Encoding) (string, error) {
	var b strings.Builder
	conv := func(s string) (string, error) {
		if enc == nil || isASCII(s) {
			return s, nil
		}
		out, err := enc.NewEncoder().String(s)
		if err != nil {
			return "", fmt.Errorf("form field %q: cannot be encoded in the page's encoding: %w", s, err)
		}
		return out, nil
	}
	for i, p := range pairs {
		k, err := conv(p.k)
		if err != nil {
			return "", err
		}
		v, err := conv(p.v)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(weburl.QuotePlus(k))
		b.WriteByte('=')
		b.WriteString(weburl.QuotePlus(v))
	}
	return b.String(), nil
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
	s, _ := encodeForm(pairs, nil) // UTF-8 encodes every string
	return s
}

package extract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jmespath/go-jmespath"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// JSON is response.json(): the decoded body parsed as JSON (objects as
// map[string]any, numbers as float64). A fresh value each call, so callers
// may change it.
func JSON(resp *crawl.Response) (any, error) {
	var v any
	if err := json.Unmarshal([]byte(Text(resp)), &v); err != nil {
		return nil, fmt.Errorf("%s: response body is not JSON: %w", resp.URL, err)
	}
	return v, nil
}

// JMESPath evaluates a JMESPath expression on a JSON-like value
// (response.jmespath(expr) is JMESPath(JSON(resp), expr)). The library is
// go-jmespath v0.4.0 on purpose: the jmespath-community fork changes
// results (specs/selectors.md, "JMESPath"); TestJMESPathGolden holds them.
func JMESPath(v any, expr string) (result any, err error) {
	defer func() {
		// go-jmespath panics on some malformed inputs; a query must never
		// take the crawl down.
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("jmespath %q: %v", expr, r)
		}
	}()
	q, err := jmespath.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("jmespath %q: %w", expr, err)
	}
	r, err := q.Search(v)
	if err != nil {
		return nil, fmt.Errorf("jmespath %q: %w", expr, err)
	}
	return r, nil
}

// CompileJMESPath reports whether expr is valid (for spec validation).
func CompileJMESPath(expr string) error {
	if _, err := jmespath.Compile(expr); err != nil {
		return fmt.Errorf("jmespath %q: %w", expr, err)
	}
	return nil
}

// ErrNoJSON is returned by ExtractJSON when nothing matched or no JSON value
// could be read where the query pointed.
var ErrNoJSON = errors.New("no embedded JSON found")

// ExtractJSON finds JSON embedded in a page (the scrapy_cffi helper
// response.extract_json). The query is
//
//   - "css:SELECTOR" or a CSS selector: the text of the first matching node
//     (e.g. "script#__NEXT_DATA__", `script[type="application/ld+json"]`);
//   - "re:PATTERN": a regular expression searched in the page text; its
//     first group (or the whole match) is the text.
//
// A bare query is tried as CSS first and, if it is not a valid selector or
// matches nothing, as a regular expression. The first JSON object or array
// in the text is decoded, so "window.__STATE__ = {...};" works as well as a
// pure JSON script body.
func ExtractJSON(resp *crawl.Response, query string) (any, error) {
	texts, err := embeddedTexts(resp, query)
	if err != nil {
		return nil, err
	}
	for _, t := range texts {
		if v, ok := firstJSONValue(t); ok {
			return v, nil
		}
	}
	return nil, fmt.Errorf("%s: %w for %q", resp.URL, ErrNoJSON, query)
}

func embeddedTexts(resp *crawl.Response, query string) ([]string, error) {
	switch {
	case strings.HasPrefix(query, "css:"):
		return cssTexts(resp, strings.TrimPrefix(query, "css:"))
	case strings.HasPrefix(query, "re:"):
		return regexTexts(resp, strings.TrimPrefix(query, "re:"))
	}
	if CompileCSS(query) == nil {
		if t, err := cssTexts(resp, query); err == nil && len(t) > 0 {
			return t, nil
		}
	}
	return regexTexts(resp, query)
}

func cssTexts(resp *crawl.Response, q string) ([]string, error) {
	root, err := Root(resp)
	if err != nil {
		return nil, err
	}
	l, err := root.CSS(q)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l))
	for _, s := range l {
		if s.kind == kindNode {
			out = append(out, stringValue(s.node))
		} else {
			out = append(out, s.value)
		}
	}
	return out, nil
}

func regexTexts(resp *crawl.Response, pattern string) ([]string, error) {
	re, err := CompileRegex(pattern)
	if err != nil {
		return nil, err
	}
	m, err := re.FindStringMatch(Text(resp))
	if err != nil {
		return nil, regexErr(pattern, err)
	}
	if m == nil {
		return nil, nil
	}
	if g := m.Groups(); len(g) > 1 {
		return []string{g[1].String()}, nil
	}
	return []string{m.String()}, nil
}

// firstJSONValue decodes the first object or array that starts in s. It
// tries each '{' or '[' in turn (at most 64) so a leading "var x =" or a
// stray bracket in a comment does not hide the data.
func firstJSONValue(s string) (any, bool) {
	s = strings.TrimSpace(s)
	tries := 0
	for i := 0; i < len(s) && tries < 64; i++ {
		if s[i] != '{' && s[i] != '[' {
			continue
		}
		tries++
		dec := json.NewDecoder(bytes.NewReader([]byte(s[i:])))
		var v any
		if err := dec.Decode(&v); err == nil {
			return v, true
		}
	}
	return nil, false
}

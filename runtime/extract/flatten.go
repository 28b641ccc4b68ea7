package extract

import (
	"strings"

	"golang.org/x/net/html"
)

// flattenDepth is how deep the fallback keeps the element structure; below
// it only links and void elements survive as elements. It stays well under
// x/net/html's 512 so implied and reopened elements fit.
const flattenDepth = 400

// keepWhenFlat are the elements kept below flattenDepth: links, so a
// CrawlSpider still follows them, and void elements, which add no depth.
var keepWhenFlat = map[string]bool{"a": true, "area": true}

// flattenHTML rewrites a document nested deeper than the HTML parser
// accepts (RELIABILITY M15: x/net/html refuses more than 512 open elements
// and returns nothing, losing the whole page). Up to flattenDepth the
// markup is kept as written; below it start and end tags are dropped
// except links and void elements, so every text and link survives and only
// the deep structure is lost. Depth is tracked with a stack of open tag
// names that end tags pop back to, which follows the HTML5 tree closely
// enough for this purpose.
func flattenHTML(text string) string {
	z := html.NewTokenizer(strings.NewReader(text))
	var b strings.Builder
	b.Grow(len(text))
	var stack []string
	inLink := false
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return b.String()
		}
		raw := z.Raw()
		switch tt {
		case html.StartTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if voidElements[tag] {
				b.Write(raw)
				continue
			}
			if len(stack) < flattenDepth {
				stack = append(stack, tag)
				b.Write(raw)
				continue
			}
			if keepWhenFlat[tag] && !inLink {
				inLink = true
				b.Write(raw)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if inLink && keepWhenFlat[tag] {
				inLink = false
				b.Write(raw)
				continue
			}
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i] == tag {
					if i < flattenDepth {
						b.Write(raw)
					}
					stack = stack[:i]
					break
				}
			}
		case html.SelfClosingTagToken:
			b.Write(raw)
		default:
			// text, comments, doctype: as written
			b.Write(raw)
		}
	}
}

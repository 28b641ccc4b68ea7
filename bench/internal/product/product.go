// Package product is the extraction both benchmark crawlers share: the 4
// product fields and the links of a page, with htmlquery, so the comparison
// measures the crawl machinery and not different parsing code.
package product

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/antchfx/htmlquery"
	"github.com/antchfx/xpath"
	"golang.org/x/net/html"
)

// Product is one page's item.
type Product struct {
	URL, Name, Price, SKU, Description string
}

var (
	xName  = xpath.MustCompile(`//h1[@class="name"]`)
	xPrice = xpath.MustCompile(`//span[@class="price"]`)
	xSKU   = xpath.MustCompile(`//span[@class="sku"]`)
	xDesc  = xpath.MustCompile(`//p[@class="description"]`)
	xLinks = xpath.MustCompile(`//ul[@class="links"]//a/@href`)
)

// Extract parses body and returns its product and absolute links.
func Extract(body []byte, pageURL string) (Product, []string, error) {
	doc, err := htmlquery.Parse(bytes.NewReader(body))
	if err != nil {
		return Product{}, nil, err
	}
	text := func(e *xpath.Expr) string {
		if n := htmlquery.QuerySelector(doc, e); n != nil {
			return strings.TrimSpace(htmlquery.InnerText(n))
		}
		return ""
	}
	p := Product{URL: pageURL, Name: text(xName), Price: text(xPrice), SKU: text(xSKU), Description: text(xDesc)}
	base, err := url.Parse(pageURL)
	if err != nil {
		return p, nil, err
	}
	var links []string
	for _, a := range htmlquery.QuerySelectorAll(doc, xLinks) {
		u, err := base.Parse(attrText(a))
		if err == nil {
			links = append(links, u.String())
		}
	}
	return p, links, nil
}

func attrText(n *html.Node) string { return htmlquery.InnerText(n) }

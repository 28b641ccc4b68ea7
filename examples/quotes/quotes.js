// quotes.toscrape.com, the Scrapy tutorial's site.

// start replaces start_urls so that `-a base=http://127.0.0.1:8000` can
// point the spider at a local copy of the site without editing the spec.
export async function* start() {
  const base = (spider.args.base || "https://quotes.toscrape.com").replace(/\/+$/, "");
  yield new Request({ url: `${base}/`, callback: parse });
}

export function* parse(response) {
  for (const quote of response.css("div.quote")) {
    const about = quote.css("a[href*=author]::attr(href)").get();
    yield {
      text: quote.css("span.text::text").get(),
      author: quote.css("small.author::text").get(),
      tags: quote.css("div.tags a.tag::text").getall(),
      author_url: about ? response.urljoin(about) : null,
    };
    // Most authors have several quotes: the dupefilter lets each author
    // page be fetched once, as in Scrapy.
    if (about) yield response.follow(about, { callback: parse_author });
  }
  const next = response.css("li.next a::attr(href)").get();
  if (next) yield response.follow(next, { callback: parse });
}

export function parse_author(response) {
  // The site writes the name with trailing whitespace ("Albert Einstein\n    ")
  // and the place as "in Ulm, Germany".
  const text = (query) => response.css(query).get("").trim();
  return {
    name: text("h3.author-title::text"),
    born: text("span.author-born-date::text"),
    born_location: text("span.author-born-location::text").replace(/^in /, ""),
    description: text("div.author-description::text"),
    url: response.url,
  };
}

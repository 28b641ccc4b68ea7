// The JavaScript-rendered variant of quotes.toscrape.com.

// start replaces start_urls so that `-a base=http://127.0.0.1:8000` can
// point the spider at a local copy of the site without editing the spec.
export async function* start() {
  const base = (spider.args.base || "https://quotes.toscrape.com").replace(/\/+$/, "");
  yield new Request({ url: `${base}/js/`, callback: parse });
}

export function* parse(response) {
  // The CSS query picks the inline <script> that defines the data;
  // extract_json decodes the first JSON value in its text (the array after
  // "var data ="), so the rendering loop after it does not matter. Nothing
  // found is an error that names the page, not an empty crawl.
  const data = response.extract_json(`script:contains("var data")`);
  for (const quote of data) {
    yield {
      text: quote.text,
      author: quote.author.name,
      tags: quote.tags,
      // Data the rendered page does not show: the author's page on this site.
      author_url: response.urljoin(`/author/${quote.author.slug}`),
    };
  }
  // The pager is plain HTML, outside the script.
  const next = response.css("li.next a::attr(href)").get();
  if (next) yield response.follow(next, { callback: parse });
}

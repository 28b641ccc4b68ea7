// The start URL is built from the spec's directory so the example works
// wherever the repository is checked out.
export async function* start() {
  yield new Request({ url: `file://${spider.spec_dir}/site/index.html`, callback: parse });
}

// parse yields one item per quote, follows each author page once (the
// dupefilter drops repeats) and follows the pager.
export function* parse(response) {
  for (const q of response.css("div.quote")) {
    yield {
      text: q.css("span.text::text").get(),
      author: q.css("small.author::text").get(),
      tags: q.css("div.tags a.tag::text").getall(),
    };
    yield response.follow(q.css("a[href*=author]::attr(href)").get(), { callback: parse_author });
  }
  const next = response.css("li.next a::attr(href)").get();
  if (next) yield response.follow(next, { callback: parse });
}

export function parse_author(response) {
  return {
    author: response.css("h3.author-title::text").get(),
    born: response.css("span.author-born-date::text").get(),
    born_location: response.css("span.author-born-location::text").get().replace(/^in /, ""),
  };
}

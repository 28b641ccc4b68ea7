// The crawl benchmark's JS spider: 4 product fields with CSS ::text
// selectors, and every link followed with response.follow (the dupefilter,
// not the script, keeps each page to one fetch).

// start replaces start_urls so that `-a base=URL` points the spider at the
// benchmark site, wherever it listens.
export async function* start() {
  const base = String(spider.args.base || "").replace(/\/+$/, "");
  if (!base) throw new Error("run with -a base=http://HOST:PORT (the benchmark site)");
  yield new Request({ url: `${base}/p/0`, callback: parse });
}

export function* parse(response) {
  yield {
    URL: response.url,
    Name: response.css("h1.name::text").get("").trim(),
    Price: response.css("span.price::text").get("").trim(),
    SKU: response.css("span.sku::text").get("").trim(),
    Description: response.css("p.description::text").get("").trim(),
  };
  for (const href of response.css("a::attr(href)").getall()) {
    yield response.follow(href, { callback: parse });
  }
}

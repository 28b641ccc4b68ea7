// Follows every link of the tree site (bench/frontiercurve): each page
// links to ten pages never seen before, so the frontier grows by nine
// requests per page fetched.

export async function* start() {
  const base = String(spider.args.base || "").replace(/\/+$/, "");
  if (!base) throw new Error("run with -a base=http://HOST:PORT (the tree site)");
  yield new Request({ url: `${base}/t/0`, callback: parse });
}

export function* parse(response) {
  for (const href of response.css("a::attr(href)").getall()) {
    yield response.follow(href, { callback: parse });
  }
}

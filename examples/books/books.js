// books.toscrape.com as a CrawlSpider: the rules in spider.yaml do the
// navigation, this file only parses book pages.

// start replaces start_urls so that `-a base=http://127.0.0.1:8000` can
// point the spider at a local copy of the site without editing the spec.
// The request has no callback on purpose: a CrawlSpider sends such
// responses through its rules, as Scrapy does with start_urls.
export async function* start() {
  const base = (spider.args.base || "https://books.toscrape.com").replace(/\/+$/, "");
  yield new Request({ url: `${base}/` });
}

// The rating is only in a class name: <p class="star-rating Three">.
const RATINGS = ["One", "Two", "Three", "Four", "Five"];

export function parse_book(response) {
  const main = response.css("div.product_main");
  // "Product Information" is a two-column table; read it by its row
  // headers rather than by position, so an added or reordered row cannot
  // shift the fields.
  const info = {};
  for (const row of response.css("table.table-striped tr")) {
    info[row.css("th::text").get("").trim()] = row.css("td::text").get("").trim();
  }
  const classes = (main.css("p.star-rating").attrib["class"] ?? "").split(/\s+/);
  const stars = RATINGS.findIndex((word) => classes.includes(word)) + 1; // 0: no rating
  return {
    title: main.css("h1::text").get(),
    // Prices are "£51.77"; a number is easier to sort and sum.
    price: Number(main.css("p.price_color::text").re_first(String.raw`[\d.]+`)),
    rating: stars || null,
    upc: info["UPC"],
    // "In stock (22 available)"
    stock: Number(/\((\d+) available\)/.exec(info["Availability"] ?? "")?.[1] ?? 0),
    category: response.css("ul.breadcrumb li:nth-last-child(2) a::text").get(),
    description: response.css("#product_description ~ p::text").get("").replace(/ \.\.\.more$/, ""),
    url: response.url,
  };
}

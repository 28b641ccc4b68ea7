// quotes.toscrape.com, the Scrapy tutorial's site, in TypeScript.
//
// spiderrun strips the types when it runs the spider (esbuild); tsc checks
// them against the API's declarations: tsconfig.json lists this file and
// jsbridge/spiderrun.d.ts (outside this repository, write the declarations
// with `spiderrun types > spiderrun.d.ts` and list that file instead).
// Request, Response and spider are globals; they can also be imported:
// import { Request } from "spiderrun".

/** One quote of a listing page. */
interface Quote {
  text: string | null;
  author: string | null;
  tags: string[];
  /** The author's page, absolute; null when the quote has no "(about)" link. */
  author_url: string | null;
}

/** One author, from the author's page. */
interface Author {
  name: string;
  born: string;
  born_location: string;
  description: string;
  url: string;
}

// start replaces start_urls so that `-a base=http://127.0.0.1:8000` can
// point the spider at a local copy of the site without editing the spec.
export async function* start(): AsyncGenerator<Request> {
  const base = (spider.args.base || "https://quotes.toscrape.com").replace(/\/+$/, "");
  yield new Request({ url: `${base}/`, callback: parse });
}

// A callback's return type names the user's item type: a plain interface
// is an item.
export function* parse(response: Response): Generator<Quote | Request> {
  for (const quote of response.css("div.quote")) {
    const about = quote.css("a[href*=author]::attr(href)").get();
    const item: Quote = {
      text: quote.css("span.text::text").get(),
      author: quote.css("small.author::text").get(),
      tags: quote.css("div.tags a.tag::text").getall(),
      author_url: about ? response.urljoin(about) : null,
    };
    yield item;
    // Most authors have several quotes: the dupefilter lets each author
    // page be fetched once, as in Scrapy.
    if (about) yield response.follow(about, { callback: parse_author });
  }
  const next = response.css("li.next a::attr(href)").get();
  if (next) yield response.follow(next, { callback: parse });
}

export function parse_author(response: Response): Author {
  // The site writes the name with trailing whitespace ("Albert Einstein\n    ")
  // and the place as "in Ulm, Germany". get("") is a string (never null):
  // the declarations say so, and --strict lets it be trimmed.
  const text = (query: string): string => response.css(query).get("").trim();
  return {
    name: text("h3.author-title::text"),
    born: text("span.author-born-date::text"),
    born_location: text("span.author-born-location::text").replace(/^in /, ""),
    description: text("div.author-description::text"),
    url: response.url,
  };
}

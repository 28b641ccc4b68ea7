import { eq, ok, throws } from "./lib/assert.js";

// A whole crawl through the real engine: start(task_data), process_start,
// process_spider_output, pipelines, hooks, errbacks, spider.download,
// timers, console, stats, settings and args.
let idles = 0;

export async function* start(task_data) {
  for (const path of task_data.pages) {
    yield new Request({ url: spider.args.base + path, callback: parse, cb_kwargs: { from: "start" } });
  }
  yield new Request({ url: spider.args.base + "/missing", callback: parse, errback: on_error });
}

export function tag_start(start, spider_) {
  ok(spider_ === spider, "process_start gets the spider");
  return (async function* () {
    for await (const r of start) {
      r.meta.tagged = true;
      yield r;
    }
  })();
}

export async function* parse(response, cb_kwargs) {
  ok(this === spider, "this is the spider");
  await new Promise((resolve) => setTimeout(resolve, 5));
  console.log("parsed", { url: response.url });
  spider.stats.inc("js/pages");
  yield { page: response.css("title::text").get(), tagged: response.meta.tagged, from: cb_kwargs.from };
  if (response.url.endsWith("/p1")) {
    yield response.follow("/detail", { callback: parse_detail });
  }
  yield { page: "dropped", drop: true };
}

export async function parse_detail(response) {
  const inline = await spider.download(new Request({ url: spider.args.base + "/inline" }));
  let failure = null;
  try {
    await spider.download(new Request({ url: spider.args.base + "/missing" }));
  } catch (e) {
    failure = e.type + " " + e.response.status;
  }
  return { detail: response.css("title::text").get(), inline: inline.text, failure };
}

export function on_error(failure) {
  return { failed: failure.type, status: failure.response.status, url: failure.request.url.replace(/^.*\//, ""), tagged: failure.request.meta.tagged };
}

export async function* add_source(response, result, spider_) {
  for await (const x of result) {
    if (!(x instanceof Request)) x.source = "mw";
    yield x;
  }
}

export function drop_flagged(item) {
  if (item.drop) return null;
  return item;
}

export async function mark(item, spider_) {
  await null;
  if (item.page === "P2") throw new DropItem("no p2");
  item.piped = true;
  return item;
}

export function opened(spider_) {
  eq(spider_.settings.CONCURRENT_REQUESTS, 4);
  throws(() => { spider_.settings.CONCURRENT_REQUESTS = 1; }, /read.only|not writable|Cannot assign/i);
  spider.stats.set("js/opened", true);
  spider.crawl(new Request({ url: spider.args.base + "/detail", callback: parse_crawled, dont_filter: true }));
}

export function parse_crawled(response) {
  return { crawled: response.css("title::text").get() };
}

export function idle(spider_) {
  idles++;
  if (idles === 1) return new Request({ url: spider.args.base + "/p3", callback: parse, cb_kwargs: { from: "idle" } });
  if (idles === 2) return DontCloseSpider;
  return undefined;
}

export async function closed(spider_, reason) {
  await new Promise((r) => setTimeout(r, 1));
  spider.stats.set("js/closed", reason);
}

export function on_item(item, response, spider_) {
  ok(spider_ === spider && typeof response.url === "string", "item_scraped(item, response, spider)");
  spider.stats.inc("js/scraped");
}

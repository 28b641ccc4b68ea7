// Closing the crawl from JS.
export function throw_close() {
  throw new CloseSpider("enough");
}
export function call_close() {
  spider.close("done by hand");
  return { closing: true };
}

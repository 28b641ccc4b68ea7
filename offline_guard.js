export * from "./quotes.js";
export async function* record_start(start) {
  for await (const request of start) spider.stats.set("test/start_url", request.url);
}

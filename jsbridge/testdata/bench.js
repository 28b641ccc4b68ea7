// Micro-benchmarks of the bridge (bench_test.go).
export function empty() {}
export function one_item(response) { return { url: response.url }; }
export function* yield_items(response, cb_kwargs) {
  for (let i = 0; i < cb_kwargs.n; i++) yield { i };
}
export function* yield_requests(response, cb_kwargs) {
  for (let i = 0; i < cb_kwargs.n; i++) yield new Request({ url: "http://example.test/" + i });
}
export async function* async_items(response, cb_kwargs) {
  for (let i = 0; i < cb_kwargs.n; i++) yield { i };
}
// The crawl benchmark's callback: 4 fields with ::text, follow every link.
export function* quotes(response) {
  for (const q of response.css("div.quote")) {
    yield {
      text: q.css("span.text::text").get(),
      author: q.css("small.author::text").get(),
      tags: q.css("a.tag::text").getall(),
      url: q.css("a::attr(href)").get(),
    };
  }
  for (const href of response.css("a::attr(href)").getall()) {
    yield response.follow(href);
  }
}

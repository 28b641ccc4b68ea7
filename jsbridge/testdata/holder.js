// The seed's "blocking async generator": yield N requests that carry a
// ResultHolder, await all holders while the engine downloads them and
// their callbacks set the results, then yield the next stage.
export async function* parse(response) {
  const holders = [];
  for (const a of response.css("a.detail")) {
    const holder = new ResultHolder();
    holders.push(holder);
    yield response.follow(a, { callback: parse_detail, errback: detail_failed, meta: { holder } });
  }
  const results = await Promise.all(holders.map((h) => h.get_result()));
  const ok = results.filter((r) => typeof r === "string").sort();
  const failed = results.filter((r) => typeof r !== "string").map((r) => r.error);
  yield { stage: 1, titles: ok, failed };
  yield response.follow("/stage2", { callback: parse_stage2, cb_kwargs: { seen: ok.length } });
}

export function parse_detail(response) {
  response.meta.holder.set_result(response.css("h1::text").get());
  return { detail: response.url.replace(/^.*\//, "") };
}

export function detail_failed(failure) {
  failure.request.meta.holder.set_result({ error: failure.type + " " + failure.response.status });
}

export function parse_stage2(response, cb_kwargs) {
  return { stage: 2, seen: cb_kwargs.seen, title: response.css("title::text").get() };
}

// A holder nobody sets: the crawl must close "stalled", naming this
// callback and the await.
export async function* parse_never(response) {
  const holder = new ResultHolder();
  yield { before: true };
  const v = await holder.get_result();
  yield { never: v };
}

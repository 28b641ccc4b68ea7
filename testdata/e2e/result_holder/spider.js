export async function* parse(response) {
  const holders = [];
  for (const id of [1, 2, 3]) {
    const holder = new ResultHolder();
    holders.push(holder);
    yield new Request({ url: `${response.urljoin("/site/" + id)}`, callback: detail, meta: { holder } });
  }
  const names = await Promise.all(holders.map((h) => h.get_result()));
  yield { stage: "joined", names };
  // A second stage after the first one completed.
  const h = new ResultHolder();
  yield new Request({ url: response.urljoin("/site/9"), callback: detail, meta: { holder: h } });
  yield { stage: "second", name: await h.get_result() };
}

export function detail(response) {
  response.meta.holder.set_result(response.css("h1.name::text").get());
}

export async function* parse(response) {
  yield { before: "wait" };
  const holder = new ResultHolder();
  yield new Request({ url: response.urljoin("/site/1"), callback: detail, meta: { holder } });
  await holder.get_result();
  yield { after: "never" };
}

export function detail(response) {
  // forgets to call response.meta.holder.set_result(...)
}

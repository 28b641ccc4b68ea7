export function* parse(response) {
  const echoed = response.json();
  const h = echoed.headers.find((kv) => kv.name.toLowerCase() === "x-spider");
  for (let i = 0; i < 6; i++) {
    yield { n: i, header: h ? h.value : null };
  }
}

export function add_header(request, spider) {
  request.headers["X-Spider"] = spider.name;
}

export function drop_odd(item) {
  if (item.n % 2 === 1) throw new DropItem("odd");
  return item;
}

export async function tag(item) {
  await null;
  item.tagged = true;
  return item;
}

export function closed(spider, reason) {
  spider.log.info(`closed hook ran: ${reason}`);
}

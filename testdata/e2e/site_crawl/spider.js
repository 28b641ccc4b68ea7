export function* parse(response) {
  const p = response.css("div.product");
  yield {
    id: Number(p.attrib["data-id"]),
    name: p.css("h1.name::text").get(),
    price: parseFloat(p.css("span.price::text").get()),
    sku: p.css(".sku::text").get(),
  };
  yield* response.follow_all(response.css("ul.links a"));
}

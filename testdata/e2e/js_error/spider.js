function price(p) {
  return p.missing.amount;
}

export function* parse(response) {
  yield { url: response.url };
  if (response.url.endsWith("/0")) yield { price: price({}) };
}

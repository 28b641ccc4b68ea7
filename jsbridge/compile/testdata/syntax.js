export function parse(response) {
  const title = response.css("h1::text").get();
  yield { title };  // ok so far? no: yield outside a generator
  return {title: };
}

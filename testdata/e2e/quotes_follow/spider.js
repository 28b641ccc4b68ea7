export async function* parse(response) {
  for (const q of response.css("div.quote")) {
    yield {
      text: q.css("span.text::text").get(),
      author: q.xpath(".//small/text()").get(),
      tags: q.css("a.tag::text").getall(),
    };
    yield response.follow(q.css("a[href*=author]::attr(href)").get(), { callback: parse_author });
  }
  const next = response.css("li.next a::attr(href)").get();
  if (next) yield response.follow(next, { callback: parse });
}

export function parse_author(response) {
  return { author: response.css("h3.author-title::text").get(), born: response.css(".author-born-date::text").get() };
}

interface Quote {
  text: string;
  author: string;
}

export function parse(response: any): Quote[] {
  const out: Quote[] = [];
  for (const q of response.css("div.quote") {
    out.push({ text: q.css("span::text").get(), author: "x" });
  }
  return out;
}

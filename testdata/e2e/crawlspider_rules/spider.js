export function parse_item(response) {
  return { url: response.url, name: response.css("h1.name::text").get(), tagged: response.meta.tagged === true };
}

export function first_three(links) {
  return links.slice(0, 3);
}

export function tag(request, response) {
  request.meta.tagged = true;
  return request;
}

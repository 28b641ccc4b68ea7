export function parse_item(response) {
  return { url: response.url, name: response.css("h1.name::text").get() };
}

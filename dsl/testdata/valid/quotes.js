export function parse(response) {
  return response.css("div.quote span.text::text").getall().map((text) => ({ text }));
}
export function parse_quote(response, cb_kwargs) {
  return { url: response.url, kind: cb_kwargs.kind };
}
export function keep_first(links) {
  return links.slice(0, 1);
}
export function add_header(request) {
  return request;
}
export function on_error(failure) {}
export function errRet(failure) {}
export function clean(item) {
  return item;
}
export function sign(request) {}
export function check_ban(request, response) {
  return response;
}
export function tag(response, result) {
  return result;
}
export function opened() {}
export function closed() {}

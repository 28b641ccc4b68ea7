export function* parse(response) {
  yield { reached: response.url };
}

export function* start() {
  yield new Request({ url: `${spider.start_urls[0]}`, dont_filter: true });
  yield new Request({ url: `${spider.start_urls[0]}?as=chrome`, impersonate: "chrome", dont_filter: true });
}

export function errRet(failure) {
  return { type: failure.type, impersonated: failure.request.url.endsWith("as=chrome") };
}

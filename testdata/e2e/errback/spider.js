export function* parse(response) {
  yield { ok: response.url };
  yield new Request({ url: response.urljoin("/status?code=500"), errback: on_error, dont_filter: true });
}

export function on_error(failure) {
  return { errback: "on_error", type: failure.type, status: failure.response ? failure.response.status : null };
}

export function errRet(failure) {
  return { errback: "errRet", type: failure.type, url: failure.request.url };
}

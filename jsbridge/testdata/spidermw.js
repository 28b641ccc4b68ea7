// Used by TestSpiderMiddlewareHooks: middleware a (engine side) and b
// (spider side), each with process_spider_input, _output and _exception.
export function parse(response) {
  if (response.url.includes("boom")) throw new RangeError("callback failed");
  return [{ page: response.url }];
}
export function* parse_midway(response) {
  yield { n: 1 };
  throw new TypeError("midway");
}
export function errback(failure) {
  return [{ errback: failure.type }];
}

export function a_input(response) {
  if (response.url.includes("reject-recover")) throw new Error("rejected by a: recover-a");
  if (response.url.includes("reject")) throw new Error("rejected by a");
}
export async function* a_output(response, result) {
  for await (const x of result) {
    if (!(x instanceof Request)) x.a = true;
    yield x;
  }
}
export function a_exception(response, exc) {
  if (String(exc.message).includes("recover-a")) return [{ recovered_by: "a", error: exc.message }];
}

export async function b_input(response) {
  await null;
  if (response.url.includes("async-fail")) throw new Error("rejected async by b");
}
export async function* b_output(response, result) {
  for await (const x of result) {
    if (!(x instanceof Request)) x.b = true;
    yield x;
  }
}
export function b_exception(response, exc) {
  if (exc instanceof RangeError) return [{ recovered_by: "b", error: exc.message }];
  return null;
}

// Used by TestParseAhead*: every callback waits until `total` callbacks
// have started, so none can finish before all of them ran.
let started = 0;
let release;
const all = new Promise((resolve) => { release = resolve; });

export async function* gate(response, { total }) {
  started++;
  if (started === total) release();
  await all;
  yield { url: response.url, title: response.css("title::text").get() };
}

// Used by TestParseAheadOnlyWhereTheDOMIsUsed.
export function text_only(response) { return { len: response.text.length }; }
export function sometimes(response, { dom }) {
  return dom ? { title: response.css("title::text").get() } : { len: response.text.length };
}

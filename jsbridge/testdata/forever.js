// Callbacks that never end by themselves (CALLBACK_TIMEOUT).
export async function* ticking(response) {
  yield { first: response.url };
  let n = 0;
  // A promise kept pending by an interval that never resolves it.
  await new Promise(() => { setInterval(() => { n++; }, 5); });
  yield { never: n };
}
export async function waiting() {
  await new Promise(() => {});
}
export function after() { return { ok: 1 }; }

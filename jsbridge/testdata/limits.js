// Callbacks that hit every limit of RELIABILITY.md §3.7.
export function spin() {
  let i = 0;
  while (true) { i++; }
}
export function after() { return { ok: 1 }; }
export async function* spin_later() {
  yield { first: 1 };
  await null;
  for (;;) {}
}
export function recurse() {
  function f(n) { return f(n + 1) + 1; }
  return { n: f(0) };
}
export function repeat() { return { s: "x".repeat(2 ** 30) }; }
export function pad() { return { s: " ".padEnd(2 ** 30) }; }
export function join() { return { s: new Array(2 ** 28).join("x") }; }
export function regex() { return { m: /^(a+)+\1$/.test("a".repeat(40) + "!") }; }
export function stringify() {
  let deep = [];
  for (let i = 0; i < 5000; i++) deep = [deep];
  return { s: JSON.stringify(deep).length };
}
export function parse() { return { v: JSON.parse("[".repeat(5000) + "]".repeat(5000)) }; }
export function fill() { return { n: new Array(1e8).fill(0).length }; }
export function typed() { return { n: new Uint8Array(2 ** 31).length }; }
export function nested() {
  let a = [];
  for (let i = 0; i < 20000; i++) a = [a];
  return { s: String(a) };
}
export function membomb() {
  const a = [];
  for (;;) a.push({ s: "x" + Math.random(), n: [1, 2, 3] });
}
function merge(target, src) {
  for (const k in src) {
    if (src[k] && typeof src[k] === "object") {
      if (!target[k]) target[k] = {};
      merge(target[k], src[k]);
    } else {
      target[k] = src[k];
    }
  }
  return target;
}
export function pollute() {
  merge({}, JSON.parse('{"__proto__": {"isAdmin": true, "price": 0}}'));
}
export function pollute_sloppy() {
  // Even code that swallows the error cannot change a built-in prototype.
  try { Object.prototype.isAdmin = true; } catch (e) { /* ignored */ }
  try { Array.prototype.push = function () {}; } catch (e) { /* ignored */ }
  return { tried: true };
}
export function check_clean() {
  const o = {};
  const a = [];
  a.push(1);
  return { isAdmin: o.isAdmin === undefined, price: o.price === undefined, push: a.length === 1 };
}
export function capabilities() {
  return {
    // globalThis.require: esbuild folds a bare `typeof require` to its own shim.
    require: typeof globalThis.require, process: typeof process, fetch: typeof fetch, Deno: typeof Deno,
    setTimeout: typeof setTimeout, native: typeof __native, go: Object.keys(globalThis).filter((k) => k.startsWith("__go")).length,
  };
}

export function cyclic() { const a = { b: {} }; a.b.c = a; return a; }
export function fn_field() { return { a: { f() {} } }; }
export function bigint() { return { n: BigInt(10) }; }
export function nan() { return { x: [1, NaN] }; }
export function keeps_others() { return [{ ok: 1 }, { bad: () => 1 }, { ok: 2 }]; }
export function dates() { return { d: new Date(0), bytes: new TextEncoder().encode("hi") }; }

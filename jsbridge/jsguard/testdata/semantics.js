// The guarded built-ins behave as the originals on ordinary input. Each
// check is [what, got, want]; the test prints the ones that differ.
(function () {
  "use strict";
  const out = [];
  const eq = (what, got, want) => {
    const g = JSON.stringify(got), w = JSON.stringify(want);
    if (g !== w) out.push(what + ": got " + g + ", want " + w);
  };
  // Strings.
  eq("repeat", "ab".repeat(3), "ababab");
  eq("repeat 0", "ab".repeat(0), "");
  let threw = "";
  try { "x".repeat(-1); } catch (e) { threw = e.name; }
  eq("repeat -1", threw, "RangeError");
  eq("repeat on object", String.prototype.repeat.call({ toString() { return "o"; } }, 2), "oo");
  eq("padStart", "5".padStart(3, "0"), "005");
  eq("padEnd", "5".padEnd(3), "5  ");
  eq("padEnd empty fill", "5".padEnd(1e9, ""), "5");
  eq("concat", "a".concat("b", 1, null), "ab1null");
  let calls = 0;
  const counted = { toString() { calls++; return "c"; } };
  eq("concat once", "a".concat(counted), "ac");
  eq("toString runs once", calls, 1);
  eq("replace", "a-b-c".replace("-", "+"), "a+b-c");
  eq("replace regex g", "a-b-c".replace(/-/g, "+"), "a+b+c");
  eq("replace $&", "abc".replace(/b/, "[$&]"), "a[b]c");
  eq("replace $1", "john smith".replace(/(\w+)\s(\w+)/, "$2, $1"), "smith, john");
  eq("replace named", "2024-05".replace(/(?<y>\d+)-(?<m>\d+)/, "$<m>/$<y>"), "05/2024");
  eq("replace fn", "a1b2".replace(/\d/g, (d) => d * 2), "a2b4");
  eq("replaceAll", "a.b.c".replaceAll(".", "/"), "a/b/c");
  eq("split", "a,b,,c".split(","), ["a", "b", "", "c"]);
  eq("split limit", "a,b,c".split(",", 2), ["a", "b"]);
  eq("split regex", "a1b22c".split(/\d+/), ["a", "b", "c"]);
  eq("split empty", "abc".split(""), ["a", "b", "c"]);
  eq("split none", "abc".split(), ["abc"]);
  // Arrays.
  eq("join", [1, null, undefined, "x", [2, 3]].join("-"), "1---x-2,3");
  eq("join default", [1, 2].join(), "1,2");
  eq("toString", String([1, [2, [3]]]), "1,2,3");
  const cyc = [1]; cyc.push(cyc);
  eq("cycle", cyc.join(), "1,");
  eq("join array-like", Array.prototype.join.call({ length: 2, 0: "a", 1: "b" }, "+"), "a+b");
  eq("fill", new Array(3).fill(0), [0, 0, 0]);
  eq("map", [1, 2].map((x) => x * 2), [2, 4]);
  eq("sort", [3, 1, 2].sort(), [1, 2, 3]);
  eq("concat arrays", [1].concat([2, 3], 4), [1, 2, 3, 4]);
  eq("flat", [1, [2, [3, [4]]]].flat(Infinity), [1, 2, 3, 4]);
  eq("from", Array.from("abc"), ["a", "b", "c"]);
  eq("from length", Array.from({ length: 2 }, (_, i) => i), [0, 1]);
  eq("apply", Math.max.apply(null, [1, 5, 2]), 5);
  eq("Reflect.apply", Reflect.apply(Math.min, null, [4, 2]), 2);
  eq("toLocaleString", [1, [2]].toLocaleString(), "1,2");
  // Names, lengths, native code.
  eq("name", Array.prototype.join.name, "join");
  eq("length", String.prototype.concat.length, 1);
  eq("native", Function.prototype.toString.call(String.prototype.repeat), "function repeat() { [native code] }");
  // Buffers.
  const u8 = new Uint8Array([1, 2, 3]);
  eq("typed", Array.from(u8), [1, 2, 3]);
  eq("typed instanceof", u8 instanceof Uint8Array, true);
  eq("typed constructor", u8.constructor === Uint8Array, true);
  eq("typed BYTES_PER_ELEMENT", Float64Array.BYTES_PER_ELEMENT, 8);
  eq("typed from", Array.from(Uint16Array.from([1, 2])), [1, 2]);
  eq("typed of", Int8Array.of(-1, 2).join(), "-1,2");
  eq("typed subarray", Array.from(u8.subarray(1)), [2, 3]);
  eq("typed map", Array.from(u8.map((x) => x * 2)), [2, 4, 6]);
  eq("typed buffer", new Uint8Array(new ArrayBuffer(4), 1, 2).length, 2);
  class Sub extends Uint8Array {}
  const sub = new Sub(2);
  eq("subclass", sub instanceof Sub && sub instanceof Uint8Array && sub.length === 2, true);
  threw = "";
  try { Uint8Array.call({}, 2); } catch (e) { threw = e.name; }
  eq("call with a this", threw, "TypeError");
  eq("ArrayBuffer", new ArrayBuffer(8).byteLength, 8);
  eq("typed join", new Uint8Array([1, 2]).join("-"), "1-2");
  // JSON.
  eq("stringify", JSON.stringify({ a: [1, "x", null, true], b: { c: 1.5 } }), '{"a":[1,"x",null,true],"b":{"c":1.5}}');
  eq("stringify indent", JSON.stringify([1], null, 2), "[\n  1\n]");
  eq("stringify replacer", JSON.stringify({ a: 1, b: 2 }, (k, v) => (k === "b" ? undefined : v)), '{"a":1}');
  eq("stringify toJSON", JSON.stringify({ toJSON() { return 7; } }), "7");
  threw = "";
  const self = {}; self.self = self;
  try { JSON.stringify(self); } catch (e) { threw = e.name; }
  eq("stringify cycle", threw, "TypeError");
  eq("parse", JSON.parse('{"a":[1,{"b":"]]]"}]}'), { a: [1, { b: "]]]" }] });
  eq("parse reviver", JSON.parse("[1,2]", (k, v) => (typeof v === "number" ? v + 1 : v)), [2, 3]);
  // Regular expressions.
  eq("test", /b/.test("abc"), true);
  eq("exec", /(b)/.exec("abc")[1], "b");
  eq("match g", "a1b2".match(/\d/g), ["1", "2"]);
  eq("matchAll", [..."a1b2".matchAll(/\d/g)].map((m) => m[0]), ["1", "2"]);
  eq("search", "abc".search(/c/), 2);
  return out;
})()

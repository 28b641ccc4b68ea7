import { clean } from "./lib/clean.js";
import leftpad from "leftpad";
import { Request, ResultHolder } from "spiderrun";
import spiderrun from "spiderrun";

export async function* parse(response) {
  for await (const v of [1, 2]) {
    yield { v: clean(" " + v + " "), padded: leftpad(String(v), 3) };
  }
  yield { same: spiderrun.Request === Request, holder: typeof ResultHolder };
}

export function nested(response) {
  return level1(response);
}

function level1(r) {
  return clean(r.missing.field);
}

export const notAFunction = 42;

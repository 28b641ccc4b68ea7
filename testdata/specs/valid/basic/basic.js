import { Request } from "spiderrun";

export async function* parse_detail(response) {
  yield { url: response.url };
}
export function clean(item) {
  return item;
}
export function opened() {}
export function errRet(failure) {}
export const unused = Request;

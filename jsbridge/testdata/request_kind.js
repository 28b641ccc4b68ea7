import { eq, throws } from "./lib/assert.js";

// The kind option (specs/impersonation.md, Request kinds): set, read,
// kept by replace and follow, defaulted to "form" by FormRequest, checked.
export function kinds(response) {
  const api = new Request({ url: "https://example.test/api/items", kind: "fetch" });
  eq(api.kind, "fetch");
  eq(new Request("https://example.test/").kind, null);
  eq(api.replace({ url: "https://example.test/api/more" }).kind, "fetch");
  eq(api.replace({ kind: "xhr" }).kind, "xhr");
  eq(response.follow("/next", { kind: "fetch" }).kind, "fetch");
  eq(new FormRequest({ url: "https://example.test/login", formdata: { a: "1" } }).kind, "form");
  eq(new FormRequest({ url: "https://example.test/s", formdata: { a: "1" }, kind: "xhr" }).kind, "xhr");
  throws(() => new Request({ url: "https://example.test/", kind: "click" }), /kind "click" \(want one of navigate, link, form, fetch, xhr\)/);
  return [api, response.follow("/next", { kind: "xhr" }), response.follow("/plain")];
}

// The credentials option (fetch()'s): set, read, kept by replace, checked.
export function credentials(response) {
  const api = new Request({ url: "https://api.example.test/me", kind: "fetch", credentials: "include" });
  eq(api.credentials, "include");
  eq(new Request("https://example.test/").credentials, null);
  eq(api.replace({ url: "https://api.example.test/more" }).credentials, "include");
  eq(api.replace({ credentials: "omit" }).credentials, "omit");
  throws(() => new Request({ url: "https://example.test/", credentials: "all" }), /credentials "all" \(want one of omit, same-origin, include\)/);
  return [api, response.follow("/x", { kind: "xhr", credentials: "same-origin" }), response.follow("/plain")];
}

// FormRequest.from_response is a submitted form unless told otherwise.
export function fromForm(response) {
  const get = FormRequest.from_response(response, { formdata: { q: "go" } });
  eq(get.kind, "form");
  eq(get.method, "GET");
  eq(FormRequest.from_response(response, { kind: "xhr" }).kind, "xhr");
  return [get];
}

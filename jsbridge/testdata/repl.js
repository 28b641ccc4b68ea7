// Script loaded by repl_test.go: its exports become shell globals.
export function parse(response) {
  return { title: response.css("title::text").get() };
}

export function boom() {
  return null.x;
}

export const parse_count = 3;

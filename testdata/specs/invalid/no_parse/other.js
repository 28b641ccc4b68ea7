export function parse_page(response) {}
export function helper() {}

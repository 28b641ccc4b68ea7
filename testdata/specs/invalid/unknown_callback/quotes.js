export function parse(response) {}
export function parse_detail(response) {}
export function clean(item) { return item; }

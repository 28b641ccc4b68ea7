export function parse(response) {
  const x = ;
  return x;
}

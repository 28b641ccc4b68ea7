export function clean(s) {
  return s.trim();
}

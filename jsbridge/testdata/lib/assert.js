// Assertions for the jsbridge test scripts: each throws an Error naming
// what differed, so the Go test fails with the script's file:line:col.
export function eq(got, want, what) {
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) throw new Error((what ? what + ": " : "") + "got " + g + ", want " + w);
}
export function ok(cond, what) {
  if (!cond) throw new Error("assertion failed: " + (what || ""));
}
export function throws(fn, re, what) {
  try {
    fn();
  } catch (e) {
    if (re && !re.test(String(e))) throw new Error((what || "throws") + ": error " + String(e) + " does not match " + re);
    return e;
  }
  throw new Error((what || "throws") + ": did not throw");
}

// A use_execjs context: a site's signing code, run in its own runtime.
var secret = "k3y";
function get_sign(query, ts) {
  return query + "|" + ts + "|" + secret;
}
function echo(v) { return v; }
function keys(o) { return Object.keys(o).join(","); }
function bytes(n) { var b = new Uint8Array(n); for (var i = 0; i < n; i++) b[i] = i * 3; return b; }

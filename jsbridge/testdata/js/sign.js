// A use_execjs context: a site's signing code, run in its own runtime.
var secret = "k3y";
function get_sign(query, ts) {
  return query + "|" + ts + "|" + secret;
}
function echo(v) { return v; }

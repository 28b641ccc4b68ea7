let sid;

export function* start() {
  sid = spider.hooks.session.register_sessions({
    alice: "user=alice; lang=en",
    bob: { cookies: { user: "bob" }, headers: { "X-Account": "bob" } },
    carol: { user: "carol" },
  });
  spider.hooks.session.end_session(sid, "carol");
  for (let i = 0; i < 8; i++) {
    yield new Request({ url: `${spider.args.base}/echo?i=${i}`, session_id: sid, dont_filter: true });
  }
}

export function parse(response) {
  const echoed = response.json();
  const get = (name) => (echoed.headers.find((h) => h.name.toLowerCase() === name) || {}).value || "";
  const member = response.meta.session_member;
  const cookie = get("cookie");
  return {
    own_cookies: cookie.includes(`user=${member}`) && cookie.split("user=").length === 2,
    account_header_ok: member === "bob" ? get("x-account") === "bob" : get("x-account") === "",
    not_retired: member !== "carol",
  };
}

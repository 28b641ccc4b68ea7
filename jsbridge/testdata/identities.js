export function login(identity) {
  identity.set({ proxy: "http://127.0.0.1:9" });
  return { headers: { "X-Who": identity.name + "#" + identity.attempt } };
}
export const not_a_function = 1;
export function factory_args() {
  const errs = [];
  for (const bad of [undefined, {}, { new_identity: "nope" }, { new_identity: () => 1 }, { new_identity: login, size: 0 }]) {
    try {
      spider.hooks.session.register_factory(bad);
      errs.push("no error");
    } catch (e) {
      errs.push(e.message);
    }
  }
  const id = spider.hooks.session.register_factory({ new_identity: login, size: 2 });
  return { id, errs };
}

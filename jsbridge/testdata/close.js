// Many start requests that all fail fast: the engine polls Stalled while
// start() is pulled; it must never see a false stall.
export function* start() {
  for (let i = 0; i < 2000; i++) yield new Request({ url: "http://nx.test/" + i });
}
export function parse() {}

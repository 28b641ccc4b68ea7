export async function* start(task_data) {
  for (const t of task_data.tasks) {
    yield new Request({ url: `${spider.args.base}/echo`, method: "POST", json: { q: t }, callback: parse, cb_kwargs: { task: t }, dont_filter: true });
  }
}

export function parse(response, cb_kwargs) {
  const echoed = response.json();
  return { task: cb_kwargs.task, method: echoed.method, body: echoed.body };
}

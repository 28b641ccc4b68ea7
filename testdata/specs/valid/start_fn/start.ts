export async function* start(task_data: unknown) {
  yield* [];
}
export function parse(response: { url: string }) {
  return { url: response.url };
}

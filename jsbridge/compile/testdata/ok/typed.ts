type Item = { title: string; n: number };

export function parse(response: { url: string }): Item {
  const n: number = (response as any).missing.length;
  return { title: response.url, n };
}

export enum Kind { A = 1, B }

export function parse(response) {
  // /echo returns the request headers in wire order.
  const headers = response.json().headers;
  const get = (name) => (headers.find((h) => h.name.toLowerCase() === name) || {}).value;
  return { chrome_ua: /Chrome\//.test(get("user-agent")), has_sec_ch_ua: get("sec-ch-ua") !== undefined };
}

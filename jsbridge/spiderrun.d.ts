// Type declarations for spiderrun spider scripts (specs/js-api.md).
// `spiderrun types > spiderrun.d.ts` writes the copy built into the binary;
// `spiderrun new NAME URL --template ts` writes it with a tsconfig.json that
// lists it in "files" (compile with lib ["es2020"], no "dom", types []). A
// script may instead add `/// <reference path="spiderrun.d.ts" />`. The
// globals are also importable: `import { Request, ResultHolder } from "spiderrun"`.
// Written for tsc --strict: your item types are plain interfaces.

type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };
/**
 * An item: any object — a plain object, a Map, a class instance — so that
 * a user's own item types (plain interfaces, which have no index
 * signature) are items: `function* parse(r: Response): Generator<Quote | Request>`.
 */
type Item = object;
/** cb_kwargs is `any` so that a callback may type its own: `(r: Response, kw: { page: number })`. */
type Callback = ((response: Response, cb_kwargs: any) => CallbackOutput) | string;
type Errback = ((failure: Failure) => CallbackOutput) | string;
type Output = Request | Item | Error | null | undefined;
/** Anything a callback may return or yield, freely nested. */
type CallbackOutput =
  | Output
  | Output[]
  | Iterable<Output | Output[]>
  | AsyncIterable<Output | Output[]>
  | Promise<Output | Output[] | Iterable<Output> | void>
  | void;

interface RequestOptions {
  url?: string;
  method?: string;
  /** Appended to the URL's query, in key order. */
  params?: Record<string, string | number | (string | number)[]>;
  headers?: Record<string, string | string[]> | [string, string][];
  /** An object is form-encoded (method defaults to POST). */
  data?: Record<string, string | string[]> | string;
  /** Sent as JSON with Content-Type: application/json (method defaults to POST). */
  json?: JSONValue;
  body?: string | Uint8Array | ArrayBuffer;
  cookies?: Record<string, string> | string | { name: string; value: string; domain?: string; path?: string }[];
  proxies?: { http?: string; https?: string } | string;
  proxy?: string;
  /** Seconds. */
  timeout?: number;
  max_retry_times?: number;
  /** Seconds. */
  retry_delay?: number;
  allow_redirects?: boolean;
  max_redirects?: number;
  verify?: boolean;
  impersonate?: string;
  /** "auto": like Chromium, HTTP/3 once the origin answered with Alt-Svc h3. */
  http_version?: "1.1" | "2" | "3" | "auto";
  /**
   * Load the page in headless Chromium as the request's session member and
   * return the rendered DOM (BROWSER_* settings; sets meta.render).
   */
  render?: boolean;
  /** With render: a CSS selector to wait for (meta.wait_for). */
  wait_for?: string;
  /** With render: a JavaScript expression to wait for until true (meta.wait_for_js). */
  wait_for_js?: string;
  /**
   * Which browser request an impersonated request reproduces (its sec-fetch-*,
   * Origin, Accept and header order): "navigate" (a typed URL), "link" (a
   * clicked link), "form" (a submitted form), "fetch" or "xhr" (a page script's
   * call). Default: start requests navigate, requests made from a page are
   * links (GET/HEAD) or forms (other methods), FormRequest is a form.
   */
  kind?: "navigate" | "link" | "form" | "fetch" | "xhr";
  /**
   * With kind "fetch" or "xhr": fetch()'s credentials mode. "same-origin"
   * (the default) sends cookies only to the page's own origin, "include" also
   * to other origins of its site (never to another site: browsers block
   * third-party cookies), "omit" none.
   */
  credentials?: "omit" | "same-origin" | "include";
  /** JSON data crosses as data; other values (ResultHolder, functions) come back as the same object. */
  meta?: Record<string, unknown>;
  cb_kwargs?: Record<string, unknown>;
  dont_filter?: boolean;
  priority?: number;
  callback?: Callback;
  errback?: Errback;
  session_id?: string;
  desc_text?: string;
}

declare class Request {
  constructor(options: RequestOptions & { url: string });
  constructor(url: string, options?: RequestOptions);
  readonly url: string;
  readonly method: string;
  headers: Record<string, string | string[]>;
  body: string | Uint8Array | null;
  cookies: Record<string, string> | null;
  meta: Record<string, any>;
  cb_kwargs: Record<string, any>;
  priority: number;
  dont_filter: boolean;
  callback: Function | null;
  errback: Function | null;
  session_id: string;
  desc_text: string;
  proxy: string | null;
  timeout: number | null;
  max_retry_times: number | null;
  retry_delay: number | null;
  allow_redirects: boolean | null;
  max_redirects: number;
  verify: boolean | null;
  impersonate: string | null;
  http_version: string | null;
  kind: "navigate" | "link" | "form" | "fetch" | "xhr" | null;
  credentials: "omit" | "same-origin" | "include" | null;
  /** A copy with some options changed (Scrapy's Request.replace). */
  replace(options?: RequestOptions): this;
  copy(): this;
}
declare const HttpRequest: typeof Request;

interface FormOptions extends RequestOptions {
  formdata?: Record<string, string | string[] | null>;
  formname?: string;
  formid?: string;
  formnumber?: number;
  formxpath?: string;
  formcss?: string;
  clickdata?: Record<string, string | number>;
  dont_click?: boolean;
}

declare class FormRequest extends Request {
  constructor(options: FormOptions & { url: string });
  constructor(url: string, options?: FormOptions);
  /** Scrapy's FormRequest.from_response: fills and submits a form of the page. */
  static from_response(response: Response, options?: FormOptions): FormRequest;
}

/** The frame type of a WebSocket message. */
type WebSocketFrame = "text" | "binary";

/** The documented form of a WebSocket message: new WebSocketMsg({data, flags}). */
interface WebSocketMsgInit {
  /** A string, or bytes. */
  data: string | Uint8Array | ArrayBuffer;
  /**
   * The frame type; default "text" for a string, "binary" for bytes. An
   * array holding one of them (a response's flags) works too.
   */
  flags?: WebSocketFrame | string[];
  /** The frame type as a boolean (true: binary); may not disagree with flags. */
  binary?: boolean;
}

/** One message to send: a string is a text frame, bytes a binary frame. */
type WebSocketMessage = string | Uint8Array | ArrayBuffer | WebSocketMsg | WebSocketMsgInit;

/** A WebSocket message with its frame type (specs/websocket.md). */
declare class WebSocketMsg {
  constructor(init: WebSocketMsgInit);
  constructor(data: string | Uint8Array | ArrayBuffer, options?: { binary?: boolean; flags?: WebSocketFrame } | WebSocketFrame | boolean);
  readonly data: string | Uint8Array | ArrayBuffer;
  readonly flags: WebSocketFrame;
  readonly binary: boolean;
}

declare class WebSocketRequest extends Request {
  constructor(options: RequestOptions & {
    url: string;
    websocket_id?: string;
    send_message?: WebSocketMessage | WebSocketMessage[];
    ping_data?: string | Uint8Array;
    /** Seconds. */
    ping_interval?: number;
  });
}

interface Headers {
  get(name: string): string | null;
  /** With a default: the default when the header is absent, never null. */
  get(name: string, defaultValue: string): string;
  getlist(name: string): string[];
  has(name: string): boolean;
  items(): [string, string][];
  readonly [name: string]: any;
}

interface Selector {
  css(query: string): SelectorList;
  xpath(query: string, vars?: Record<string, string | number | boolean>): SelectorList;
  get(): string;
  getall(): string[];
  re(regex: string): string[];
  re_first(regex: string): string | null;
  /** With a default: the default when nothing matches, never null. */
  re_first(regex: string, defaultValue: string): string;
  readonly attrib: Record<string, string>;
  /** parsel's older name of get(). */
  extract(): string;
}

interface SelectorList extends Array<Selector> {
  get(): string | null;
  /** With a default: the default when nothing matches, never null. */
  get(defaultValue: string): string;
  getall(): string[];
  re(regex: string): string[];
  re_first(regex: string): string | null;
  /** With a default: the default when nothing matches, never null. */
  re_first(regex: string, defaultValue: string): string;
  css(query: string): SelectorList;
  xpath(query: string, vars?: Record<string, string | number | boolean>): SelectorList;
  /** Attributes of the first element. */
  readonly attrib: Record<string, string>;
  /** parsel's older name of getall(). */
  extract(): string[];
  /** parsel's older name of get(). */
  extract_first(): string | null;
  /** With a default: the default when nothing matches, never null. */
  extract_first(defaultValue: string): string;
}

interface Link {
  url: string;
  text: string;
  fragment: string;
  nofollow: boolean;
}

interface Response {
  readonly url: string;
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
  readonly text: string;
  readonly encoding: string;
  readonly protocol: string;
  readonly ip: string;
  readonly flags: string[];
  readonly meta: Record<string, any>;
  readonly request: Request | null;
  readonly cb_kwargs: Record<string, any>;
  readonly session_id: string;
  /** WebSocket responses: the connection's id. */
  readonly websocket_id?: string;
  /** WebSocket responses: the message (string, or bytes when binary). */
  readonly message?: string | Uint8Array;
  /** WebSocket responses: send on the open connection (options set the frame type of bare data). */
  send(msg: WebSocketMessage, options?: { binary?: boolean; flags?: WebSocketFrame } | WebSocketFrame | boolean): void;
  /** WebSocket responses: close the connection. */
  close(code?: number, reason?: string): void;
  json(): any;
  css(query: string): SelectorList;
  xpath(query: string, vars?: Record<string, string | number | boolean>): SelectorList;
  re(regex: string): string[];
  re_first(regex: string): string | null;
  /** With a default: the default when nothing matches, never null. */
  re_first(regex: string, defaultValue: string): string;
  jmespath(expression: string): any;
  extract_json(query: string, defaultValue?: any): any;
  urljoin(url: string): string;
  follow(target: string | Selector | Link, options?: RequestOptions): Request;
  follow_all(targets: (string | Selector | Link)[] | SelectorList | { css: string } | { xpath: string }, options?: RequestOptions): Request[];
  /** A new Response with the given attributes changed (Scrapy's Response.replace); the request (and so meta) is kept unless given. */
  replace(options?: ResponseOptions): Response;
}

/** Options of new Response(...) and response.replace(...) (Scrapy's Response arguments). */
interface ResponseOptions {
  /** Defaults to request.url. */
  url?: string;
  /** An HTTP status code; 200 by default. */
  status?: number;
  /** An object (a value or an array of values per name), [name, value] pairs, or a response's headers. */
  headers?: Record<string, string | string[]> | [string, string][] | Headers;
  body?: string | Uint8Array | ArrayBuffer;
  flags?: string[];
  /** The request it answers: response.request, and its meta and callback. */
  request?: Request;
  protocol?: string;
  ip?: string;
}

/**
 * A response built by the script: a downloader middleware's process_request
 * returns one to answer a request without downloading it (Scrapy's
 * HtmlResponse(url=..., body=..., request=request)).
 */
declare const Response: {
  new (options: ResponseOptions): Response;
  readonly prototype: Response;
};

interface Failure {
  readonly request: Request | null;
  readonly message: string;
  /** TimeoutError, HttpError, DNSLookupError, ConnectionRefusedError, ... */
  readonly type: string;
  /** Set for HttpError. */
  readonly response: Response | null;
  readonly value: { response: Response | null; message: string };
  check(...types: (string | Function)[]): string | null;
  getErrorMessage(): string;
}

declare class ResultHolder {
  constructor();
  set_result(value: unknown): void;
  get_result(): Promise<any>;
  readonly done: boolean;
}

declare class DropItem extends Error {
  constructor(reason?: string);
}
declare class CloseSpider extends Error {
  constructor(reason?: string);
  readonly reason: string;
}
declare class IgnoreRequest extends Error {
  constructor(reason?: string);
}
declare class DontCloseSpider extends Error {
  constructor(reason?: string);
}

interface LinkExtractorOptions {
  allow?: string | string[];
  deny?: string | string[];
  allow_domains?: string | string[];
  deny_domains?: string | string[];
  restrict_xpaths?: string | string[];
  restrict_css?: string | string[];
  restrict_text?: string | string[];
  tags?: string[] | null;
  attrs?: string[];
  canonicalize?: boolean;
  unique?: boolean;
  strip?: boolean;
  deny_extensions?: string[];
  process_value?: (value: string) => string | null | undefined;
}

declare class LinkExtractor {
  constructor(options?: LinkExtractorOptions);
  extract_links(response: Response): Link[];
  matches(url: string): boolean;
}

interface ExecJSContext {
  call(funcname: string, ...args: JSONValue[]): any;
  eval(source: string): any;
}

interface Spider {
  readonly name: string;
  readonly start_urls: readonly string[];
  readonly allowed_domains: readonly string[];
  readonly robot_scheme: string;
  readonly session_id: string;
  readonly spec_dir: string;
  readonly run_py_dir: string;
  readonly settings: Readonly<Record<string, any>>;
  readonly args: Readonly<Record<string, string>>;
  /**
   * Scrapy's spider.state: an object kept across the runs of a paused crawl
   * (--jobdir), restored before spider_opened and start(), saved every few
   * seconds while it changes and when the crawl closes. JSON data only
   * (Maps, Sets and Dates are saved as objects, arrays and ISO strings).
   * Without a JOBDIR it lives in memory for this run.
   */
  state: { [key: string]: JSONValue };
  readonly ctx_dict: Readonly<Record<string, ExecJSContext>>;
  readonly log: {
    debug(...args: unknown[]): void;
    info(...args: unknown[]): void;
    warn(...args: unknown[]): void;
    warning(...args: unknown[]): void;
    error(...args: unknown[]): void;
  };
  readonly stats: {
    get(key: string, defaultValue?: unknown): any;
    set(key: string, value: JSONValue): void;
    inc(key: string, n?: number): void;
    max(key: string, value: number): void;
  };
  readonly hooks: {
    session: {
      /** Registers a group of identities; returns its session_id. */
      register_sessions(sessions: Record<string, Record<string, string> | string>): string;
      /**
       * Retires a member: the one a request (or response.request) was sent as,
       * or the member `name` of the group `session_id` (default: spider.session_id).
       */
      end_session(member: Request | string, name?: string): void;
      /**
       * An identity pool: `new_identity` (an exported function or its name)
       * is called for each member the pool needs — `size` at the start
       * (default SESSION_POOL_SIZE) and one for each member retired. It may
       * log in through `identity.download`; returns the session_id at once.
       */
      register_factory(options: {
        new_identity: ((identity: NewIdentity, spider: Spider) => SessionMember | void | Promise<SessionMember | void>) | string;
        size?: number;
      }): string;
      /**
       * One member per captured browser profile: a directory (NAME.yaml or
       * .json profiles, NAME.cookies.txt / .cookies.json, NAME.headers.txt)
       * or a list; none = the SESSION_PROFILES directory.
       */
      register_profiles(profiles?: string | Record<string, {
        impersonate: string;
        headers?: Record<string, string>;
        cookies?: Record<string, string> | string;
        cookies_file?: string;
        proxy?: string;
      }>): string;
    };
  };
  /** An inline request through the downloader middlewares; no callback runs. */
  download(request: Request): Promise<Response>;
  /** Schedules a request from anywhere. */
  crawl(request: Request): void;
  close(reason?: string): void;
  /** Calls a js_path context synchronously. */
  use_execjs(ctx_key: string, funcname: string, params?: JSONValue[]): any;
  [key: string]: any;
}

/** A member as register_sessions takes it, or a factory returns it. */
type SessionMember = string | Record<string, string> | {
  cookies?: Record<string, string> | string;
  headers?: Record<string, string>;
  proxy?: string;
  impersonate?: string;
};

/** The member an identity factory (register_factory) is creating. */
interface NewIdentity {
  readonly session_id: string;
  /** "identity1", "identity2", … */
  readonly name: string;
  /** 1 for the first try of this place in the pool. */
  readonly attempt: number;
  /** Sends a request as this identity only (its jar, connections, proxy, profile). */
  download(request: Request): Promise<Response>;
  /** Adds to the identity before its requests (e.g. its proxy or profile). */
  set(member: SessionMember): void;
}

declare const spider: Spider;

// The other globals of the runtime (specs/js-api.md, "Other globals"). A
// spider has no DOM: compile with lib ["es2020"] and without "dom" (whose
// Request and Response are other classes).
interface Console {
  log(...args: unknown[]): void;
  info(...args: unknown[]): void;
  debug(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}
declare const console: Console;
declare function setTimeout(callback: (...args: any[]) => void, ms?: number, ...args: any[]): number;
declare function clearTimeout(id?: number): void;
declare function setInterval(callback: (...args: any[]) => void, ms?: number, ...args: any[]): number;
declare function clearInterval(id?: number): void;
declare function setImmediate(callback: (...args: any[]) => void, ...args: any[]): number;
declare function clearImmediate(id?: number): void;
/** UTF-8 only. */
declare class TextEncoder {
  readonly encoding: string;
  encode(input?: string): Uint8Array;
}
/** UTF-8 only. */
declare class TextDecoder {
  constructor(label?: string);
  readonly encoding: string;
  decode(input?: Uint8Array | ArrayBuffer): string;
}
declare class URLSearchParams {
  constructor(init?: string | Record<string, string> | [string, string][] | URLSearchParams);
  append(name: string, value: string): void;
  delete(name: string): void;
  get(name: string): string | null;
  getAll(name: string): string[];
  has(name: string): boolean;
  set(name: string, value: string): void;
  sort(): void;
  toString(): string;
  forEach(callback: (value: string, name: string, params: URLSearchParams) => void): void;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  entries(): IterableIterator<[string, string]>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}
declare class URL {
  constructor(url: string, base?: string | URL);
  hash: string;
  host: string;
  hostname: string;
  href: string;
  readonly origin: string;
  password: string;
  pathname: string;
  port: string;
  protocol: string;
  search: string;
  readonly searchParams: URLSearchParams;
  username: string;
  toString(): string;
  toJSON(): string;
}
declare function atob(data: string): string;
declare function btoa(data: string): string;

// The virtual module re-exports the globals. (A top-level class is not a
// property of typeof globalThis, so each is aliased through a local.)
declare module "spiderrun" {
  const _Request: typeof Request;
  const _FormRequest: typeof FormRequest;
  const _WebSocketRequest: typeof WebSocketRequest;
  const _WebSocketMsg: typeof WebSocketMsg;
  const _ResultHolder: typeof ResultHolder;
  const _DropItem: typeof DropItem;
  const _CloseSpider: typeof CloseSpider;
  const _IgnoreRequest: typeof IgnoreRequest;
  const _DontCloseSpider: typeof DontCloseSpider;
  const _LinkExtractor: typeof LinkExtractor;
  const _spider: Spider;
  export {
    _Request as Request,
    _Request as HttpRequest,
    _FormRequest as FormRequest,
    _WebSocketRequest as WebSocketRequest,
    _WebSocketMsg as WebSocketMsg,
    _ResultHolder as ResultHolder,
    _DropItem as DropItem,
    _CloseSpider as CloseSpider,
    _IgnoreRequest as IgnoreRequest,
    _DontCloseSpider as DontCloseSpider,
    _LinkExtractor as LinkExtractor,
    _spider as spider,
  };
  const all: {
    Request: typeof Request;
    HttpRequest: typeof Request;
    FormRequest: typeof FormRequest;
    WebSocketRequest: typeof WebSocketRequest;
    WebSocketMsg: typeof WebSocketMsg;
    ResultHolder: typeof ResultHolder;
    DropItem: typeof DropItem;
    CloseSpider: typeof CloseSpider;
    IgnoreRequest: typeof IgnoreRequest;
    DontCloseSpider: typeof DontCloseSpider;
    LinkExtractor: typeof LinkExtractor;
    spider: Spider;
  };
  export default all;
}

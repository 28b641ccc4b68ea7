// Browser globals for execjs contexts. Signing scripts written for
// PyExecJS/Node or copied from a site's bundle probe these at load time
// (jsencrypt reads navigator.appName, js-md5 publishes md5 on window,
// crypto-js looks for window.crypto). They are deliberately small stubs:
// enough to make feature detection and common calls succeed, never a DOM.
//
// The file evaluates to one function that the Go side calls once per
// runtime with the global object and a host object of Go natives and
// settings, so nothing internal leaks into the global scope.
(function (g, host) {
  'use strict';
  function def(obj, name, value) {
    Object.defineProperty(obj, name, { value: value, writable: true, configurable: true, enumerable: false });
  }
  function noop() {}

  // window === self === globalThis, as in a browser main thread.
  ['window', 'self', 'top', 'parent', 'frames'].forEach(function (n) { def(g, n, g); });
  def(g, 'length', 0);
  def(g, 'name', '');
  def(g, 'closed', false);
  def(g, 'devicePixelRatio', 1);
  def(g, 'innerWidth', 1920);
  def(g, 'innerHeight', 969);
  def(g, 'outerWidth', 1920);
  def(g, 'outerHeight', 1050);
  def(g, 'screenX', 0);
  def(g, 'screenY', 0);
  def(g, 'isSecureContext', host.location.protocol === 'https:');

  // Event target stubs on window: listeners are accepted and never fire.
  def(g, 'addEventListener', noop);
  def(g, 'removeEventListener', noop);
  def(g, 'dispatchEvent', function () { return true; });
  def(g, 'attachEvent', noop);
  def(g, 'detachEvent', noop);
  def(g, 'alert', noop);
  def(g, 'confirm', function () { return false; });
  def(g, 'prompt', function () { return null; });
  def(g, 'open', function () { return null; });
  def(g, 'close', noop);
  def(g, 'focus', noop);
  def(g, 'blur', noop);
  def(g, 'scrollTo', noop);
  def(g, 'postMessage', noop);
  def(g, 'getComputedStyle', function () { return makeStyle(); });
  def(g, 'matchMedia', function (q) {
    return { matches: false, media: String(q), onchange: null, addListener: noop, removeListener: noop,
      addEventListener: noop, removeEventListener: noop };
  });
  def(g, 'requestAnimationFrame', function (fn) { return g.setTimeout(function () { fn(Date.now()); }, 16); });
  def(g, 'cancelAnimationFrame', function (id) { g.clearTimeout(id); });

  // atob/btoa, TextEncoder/TextDecoder and crypto.getRandomValues are Go
  // natives: exact WHATWG semantics without re-implementing them in JS.
  def(g, 'atob', host.atob);
  def(g, 'btoa', host.btoa);

  function TextEncoder() {}
  Object.defineProperty(TextEncoder.prototype, 'encoding', { get: function () { return 'utf-8'; } });
  TextEncoder.prototype.encode = function (s) { return host.utf8Encode(s === undefined ? '' : String(s)); };
  TextEncoder.prototype.encodeInto = function (s, dest) {
    var b = host.utf8Encode(String(s));
    var n = Math.min(b.length, dest.length);
    dest.set(b.subarray(0, n));
    return { read: String(s).length, written: n };
  };
  def(g, 'TextEncoder', TextEncoder);

  function TextDecoder(label, opts) {
    var l = label === undefined ? 'utf-8' : String(label).toLowerCase().trim();
    if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8') {
      throw new RangeError('TextDecoder: only utf-8 is supported, got "' + label + '"');
    }
    this._fatal = !!(opts && opts.fatal);
  }
  Object.defineProperty(TextDecoder.prototype, 'encoding', { get: function () { return 'utf-8'; } });
  TextDecoder.prototype.decode = function (buf) {
    if (buf === undefined) return '';
    return host.utf8Decode(buf, this._fatal);
  };
  def(g, 'TextDecoder', TextDecoder);

  var crypto = {
    getRandomValues: host.getRandomValues,
    randomUUID: host.randomUUID,
    subtle: undefined
  };
  def(g, 'crypto', crypto);
  def(g, 'msCrypto', undefined);

  function makeStyle() {
    return { getPropertyValue: function () { return ''; }, setProperty: noop, removeProperty: function () { return ''; } };
  }

  // navigator: a desktop Chrome by default; userAgent follows Options.UserAgent.
  var ua = host.userAgent;
  var navigator = {
    userAgent: ua,
    appVersion: ua.replace(/^Mozilla\//, ''),
    appName: 'Netscape',
    appCodeName: 'Mozilla',
    product: 'Gecko',
    productSub: '20030107',
    vendor: /Chrome\//.test(ua) ? 'Google Inc.' : '',
    vendorSub: '',
    platform: host.platform,
    language: 'en-US',
    languages: ['en-US', 'en'],
    cookieEnabled: true,
    onLine: true,
    doNotTrack: null,
    hardwareConcurrency: 8,
    deviceMemory: 8,
    maxTouchPoints: 0,
    webdriver: false,
    pdfViewerEnabled: true,
    plugins: [],
    mimeTypes: [],
    javaEnabled: function () { return false; },
    sendBeacon: function () { return true; }
  };
  def(g, 'navigator', navigator);
  def(g, 'clientInformation', navigator);

  def(g, 'screen', {
    width: 1920, height: 1080, availWidth: 1920, availHeight: 1040, availLeft: 0, availTop: 0,
    colorDepth: 24, pixelDepth: 24, orientation: { type: 'landscape-primary', angle: 0 }
  });

  var loc = host.location;
  var location = {
    href: loc.href, protocol: loc.protocol, host: loc.host, hostname: loc.hostname, port: loc.port,
    pathname: loc.pathname, search: loc.search, hash: loc.hash, origin: loc.origin,
    assign: noop, replace: noop, reload: noop,
    toString: function () { return this.href; }
  };
  def(g, 'location', location);

  def(g, 'history', { length: 1, state: null, back: noop, forward: noop, go: noop, pushState: noop, replaceState: noop });

  function Storage() { def(this, '_m', Object.create(null)); }
  Storage.prototype.getItem = function (k) { k = String(k); return k in this._m ? this._m[k] : null; };
  Storage.prototype.setItem = function (k, v) { this._m[String(k)] = String(v); };
  Storage.prototype.removeItem = function (k) { delete this._m[String(k)]; };
  Storage.prototype.clear = function () { for (var k in this._m) delete this._m[k]; };
  Storage.prototype.key = function (i) { var ks = Object.keys(this._m); return i < ks.length ? ks[i] : null; };
  Object.defineProperty(Storage.prototype, 'length', { get: function () { return Object.keys(this._m).length; } });
  def(g, 'Storage', Storage);
  def(g, 'localStorage', new Storage());
  def(g, 'sessionStorage', new Storage());

  // document: cookie behaves like a browser's (set one cookie per
  // assignment, attributes parsed for expiry, read as "a=1; b=2"); elements
  // are inert stubs so that createElement('canvas').getContext and
  // head.appendChild(script) style probes do not throw.
  function Element(tag) {
    this.tagName = String(tag).toUpperCase();
    this.nodeName = this.tagName;
    this.nodeType = 1;
    this.style = makeStyle();
    this.attributes = [];
    this.childNodes = [];
    this.children = this.childNodes;
    this.parentNode = null;
    this.innerHTML = '';
    this.innerText = '';
    this.textContent = '';
    this.id = '';
    this.className = '';
    this.src = '';
    this.href = '';
    this.value = '';
    this._attrs = Object.create(null);
  }
  Element.prototype.setAttribute = function (k, v) { this._attrs[String(k)] = String(v); };
  Element.prototype.getAttribute = function (k) { k = String(k); return k in this._attrs ? this._attrs[k] : null; };
  Element.prototype.hasAttribute = function (k) { return String(k) in this._attrs; };
  Element.prototype.removeAttribute = function (k) { delete this._attrs[String(k)]; };
  Element.prototype.appendChild = function (c) { this.childNodes.push(c); if (c && typeof c === 'object') c.parentNode = this; return c; };
  Element.prototype.insertBefore = Element.prototype.appendChild;
  Element.prototype.removeChild = function (c) {
    var i = this.childNodes.indexOf(c);
    if (i >= 0) this.childNodes.splice(i, 1);
    return c;
  };
  Element.prototype.remove = function () { if (this.parentNode) this.parentNode.removeChild(this); };
  Element.prototype.addEventListener = noop;
  Element.prototype.removeEventListener = noop;
  Element.prototype.dispatchEvent = function () { return true; };
  Element.prototype.getElementsByTagName = function () { return []; };
  Element.prototype.getElementsByClassName = function () { return []; };
  Element.prototype.querySelector = function () { return null; };
  Element.prototype.querySelectorAll = function () { return []; };
  Element.prototype.getBoundingClientRect = function () { return { x: 0, y: 0, top: 0, left: 0, right: 0, bottom: 0, width: 0, height: 0 }; };
  Element.prototype.getContext = function () { return null; };
  Element.prototype.toDataURL = function () { return 'data:,'; };
  Element.prototype.click = noop;
  Element.prototype.focus = noop;
  Element.prototype.blur = noop;
  def(g, 'HTMLElement', Element);
  def(g, 'Element', Element);

  var cookies = [];
  function setCookie(str) {
    var parts = String(str).split(';');
    var first = parts[0];
    var eq = first.indexOf('=');
    var name = (eq < 0 ? '' : first.slice(0, eq)).trim();
    var value = (eq < 0 ? first : first.slice(eq + 1)).trim();
    var expired = false;
    for (var i = 1; i < parts.length; i++) {
      var a = parts[i].trim();
      var ai = a.indexOf('=');
      var an = (ai < 0 ? a : a.slice(0, ai)).trim().toLowerCase();
      var av = ai < 0 ? '' : a.slice(ai + 1).trim();
      if (an === 'max-age' && Number(av) <= 0) expired = true;
      if (an === 'expires') {
        var t = Date.parse(av);
        if (!isNaN(t) && t <= Date.now()) expired = true;
      }
    }
    for (var j = 0; j < cookies.length; j++) {
      if (cookies[j][0] === name) { cookies.splice(j, 1); break; }
    }
    if (!expired) cookies.push([name, value]);
  }
  if (host.cookie) String(host.cookie).split(';').forEach(function (c) { if (c.trim()) setCookie(c.trim()); });

  var html = new Element('html');
  var head = new Element('head');
  var body = new Element('body');
  html.appendChild(head);
  html.appendChild(body);
  var document = {
    nodeType: 9,
    documentElement: html,
    head: head,
    body: body,
    title: '',
    referrer: '',
    URL: loc.href,
    documentURI: loc.href,
    domain: loc.hostname,
    characterSet: 'UTF-8',
    charset: 'UTF-8',
    compatMode: 'CSS1Compat',
    contentType: 'text/html',
    readyState: 'complete',
    visibilityState: 'visible',
    hidden: false,
    location: location,
    defaultView: g,
    scripts: [],
    forms: [],
    images: [],
    links: [],
    createElement: function (tag) { return new Element(tag); },
    createElementNS: function (ns, tag) { return new Element(tag); },
    createTextNode: function (t) { return { nodeType: 3, textContent: String(t), data: String(t) }; },
    createDocumentFragment: function () { return new Element('#document-fragment'); },
    createEvent: function () { return { initEvent: noop }; },
    getElementById: function () { return null; },
    getElementsByName: function () { return []; },
    getElementsByClassName: function () { return []; },
    getElementsByTagName: function (tag) {
      switch (String(tag).toLowerCase()) {
        case 'html': return [html];
        case 'head': return [head];
        case 'body': return [body];
      }
      return [];
    },
    querySelector: function (sel) {
      switch (String(sel).toLowerCase()) {
        case 'html': return html;
        case 'head': return head;
        case 'body': return body;
      }
      return null;
    },
    querySelectorAll: function () { return []; },
    addEventListener: noop,
    removeEventListener: noop,
    dispatchEvent: function () { return true; },
    hasFocus: function () { return true; },
    write: noop,
    writeln: noop,
    open: noop,
    close: noop
  };
  Object.defineProperty(document, 'cookie', {
    get: function () { return cookies.map(function (c) { return c[0] ? c[0] + '=' + c[1] : c[1]; }).join('; '); },
    set: setCookie,
    enumerable: true, configurable: true
  });
  def(g, 'document', document);

  // Object.prototype.toString.call(navigator) === '[object Navigator]' is a
  // common environment check.
  [[g, 'Window'], [navigator, 'Navigator'], [document, 'HTMLDocument'], [location, 'Location'],
    [g.screen, 'Screen'], [g.history, 'History']].forEach(function (p) {
    Object.defineProperty(p[0], Symbol.toStringTag, { value: p[1], configurable: true });
  });
  [[Storage.prototype, 'Storage'], [Element.prototype, 'HTMLElement'], [TextEncoder.prototype, 'TextEncoder'],
    [TextDecoder.prototype, 'TextDecoder'], [crypto, 'Crypto']].forEach(function (p) {
    Object.defineProperty(p[0], Symbol.toStringTag, { value: p[1], configurable: true });
  });

  def(g, 'queueMicrotask', function (fn) { Promise.resolve().then(fn); });
  if (typeof g.performance === 'undefined') {
    var t0 = Date.now();
    def(g, 'performance', { now: function () { return host.monotonicMillis(); }, timeOrigin: t0, mark: noop, measure: noop });
  }
})

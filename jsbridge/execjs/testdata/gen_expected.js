// Computes expected.json for the execjs vendor tests under Node.
//
//   cd jsbridge/execjs/testdata && node gen_expected.js
//
// Each wrapper in contexts/ runs here in a fresh node:vm context that looks
// like a browser page (window === self === globalThis, navigator, crypto,
// importScripts loading the same vendored bundles), so Node executes exactly
// the calls the Go tests make through execjs. Where Node has its own
// implementation (hashes, HMAC, AES, RSA) the library result is checked
// against it before anything is written. Random inputs (the RSA and SM2 test
// keys, the SM2 signature) are generated here once and stored.
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const nodeCrypto = require('crypto');
const assert = require('assert');

const here = __dirname;

function browserContext(file) {
  const g = {
    navigator: { userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', appName: 'Netscape' },
    crypto: nodeCrypto.webcrypto,
    atob, btoa, TextEncoder, TextDecoder, console, Buffer,
    // Only nodecrypto.js uses require: Node's own modules are the reference.
    require: (m) => require(m),
    addEventListener() {}, removeEventListener() {},
  };
  const ctx = vm.createContext(g);
  vm.runInContext('var window = this, self = this;', ctx);
  g.importScripts = (...files) => {
    for (const f of files) {
      const p = path.join(path.dirname(file), f);
      vm.runInContext(fs.readFileSync(p, 'utf8'), ctx, { filename: p });
    }
  };
  vm.runInContext(fs.readFileSync(file, 'utf8'), ctx, { filename: file });
  return ctx;
}

const cases = [];
function add(ctxName, ctx, fn, args, check) {
  const want = ctx[fn](...args.map(a => (a && a.$bytes !== undefined) ? Uint8Array.from(a.$bytes) : a));
  if (check !== undefined) assert.deepStrictEqual(want, check, `${ctxName}.${fn} disagrees with node:crypto`);
  cases.push({ context: ctxName, fn, args, want });
  return want;
}
const hash = (alg, s) => nodeCrypto.createHash(alg).update(s, 'utf8').digest('hex');

// crypto-js
{
  const c = browserContext(path.join(here, 'contexts/cryptojs.js'));
  for (const s of ['hello spiderrun', '你好，世界', '']) {
    add('cryptojs', c, 'md5', [s], hash('md5', s));
    add('cryptojs', c, 'sha1', [s], hash('sha1', s));
    add('cryptojs', c, 'sha256', [s], hash('sha256', s));
  }
  const key = 'secret-key';
  const msg = 'a=1&b=2&ts=1700000000';
  add('cryptojs', c, 'hmacSHA256', [msg, key], nodeCrypto.createHmac('sha256', key).update(msg).digest('hex'));
  const keyHex = '000102030405060708090a0b0c0d0e0f';
  const ivHex = '0f0e0d0c0b0a09080706050403020100';
  const plain = '{"user":"alice","ts":1700000000,"note":"签名"}';
  const ci = nodeCrypto.createCipheriv('aes-128-cbc', Buffer.from(keyHex, 'hex'), Buffer.from(ivHex, 'hex'));
  const nodeB64 = Buffer.concat([ci.update(plain, 'utf8'), ci.final()]).toString('base64');
  const enc = add('cryptojs', c, 'aesCbcEncrypt', [plain, keyHex, ivHex], nodeB64);
  add('cryptojs', c, 'aesCbcDecrypt', [enc, keyHex, ivHex], plain);
}

// jsencrypt: a fresh 1024-bit test key; the ciphertext comes from node so
// the decrypt case checks jsencrypt against an independent implementation.
const rsa = nodeCrypto.generateKeyPairSync('rsa', {
  modulusLength: 1024,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
});
{
  const c = browserContext(path.join(here, 'contexts/jsencrypt.js'));
  const secret = 'token=abc123&ts=1700000000';
  const cipher = nodeCrypto.publicEncrypt({ key: rsa.publicKey, padding: nodeCrypto.constants.RSA_PKCS1_PADDING }, Buffer.from(secret)).toString('base64');
  add('jsencrypt', c, 'rsaDecrypt', [rsa.privateKey, cipher], secret);
  add('jsencrypt', c, 'rsaRoundTrip', [rsa.publicKey, rsa.privateKey, 'round trip ✓'], 'round trip ✓');
}

// sm-crypto
{
  const c = browserContext(path.join(here, 'contexts/smcrypto.js'));
  const kp = vm.runInContext('sm2.generateKeyPairHex()', c);
  const msg = 'sm2 message to sign';
  const sig = vm.runInContext(`sm2.doSignature(${JSON.stringify(msg)}, ${JSON.stringify(kp.privateKey)}, { hash: true })`, c);
  add('smcrypto', c, 'sm2Verify', [msg, sig, kp.publicKey], true);
  add('smcrypto', c, 'sm2Verify', [msg + '!', sig, kp.publicKey], false);
  // sm2SignVerify and sm2RoundTrip (in contexts/smcrypto.js) are not cases:
  // each SM2 operation costs seconds under goja (jsbn big numbers without
  // a JIT), so the suite keeps to the two verifications the issue asks for.
  // GB/T 32905-2016 example A.1: SM3("abc").
  add('smcrypto', c, 'sm3Hash', ['abc'], '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0');
  add('smcrypto', c, 'sm3Hash', ['国密 SM3']);
  const key = '0123456789abcdeffedcba9876543210';
  const iv = 'fedcba98765432100123456789abcdef';
  const plain = 'sm4 plaintext 明文';
  const ecb = add('smcrypto', c, 'sm4EcbEncrypt', [plain, key]);
  add('smcrypto', c, 'sm4EcbDecrypt', [ecb, key], plain);
  const cbc = add('smcrypto', c, 'sm4CbcEncrypt', [plain, key, iv]);
  add('smcrypto', c, 'sm4CbcDecrypt', [cbc, key, iv], plain);
}

// js-md5
{
  const c = browserContext(path.join(here, 'contexts/jsmd5.js'));
  assert.strictEqual(typeof vm.runInContext('window.md5', c), 'function', 'js-md5 did not publish window.md5');
  for (const s of ['hello spiderrun', '你好，世界', 'x'.repeat(100)]) {
    add('jsmd5', c, 'md5Hex', [s], hash('md5', s));
  }
  const bytes = Array.from({ length: 100 }, (_, i) => (i * 37) & 0xff);
  add('jsmd5', c, 'md5Bytes', [{ $bytes: bytes }], nodeCrypto.createHash('md5').update(Buffer.from(bytes)).digest('hex'));
  add('jsmd5', c, 'md5Base64', ['hello spiderrun'], nodeCrypto.createHash('md5').update('hello spiderrun').digest('base64'));
}

// Node's crypto module, through the subset execjs implements.
{
  const c = browserContext(path.join(here, 'contexts/nodecrypto.js'));
  for (const alg of ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512']) {
    add('nodecrypto', c, 'hash', [alg, 'hello 世界']);
  }
  add('nodecrypto', c, 'hash', ['md5', 'abc', 'base64']);
  add('nodecrypto', c, 'hashHexInput', ['sha256', '00ff10ab']);
  add('nodecrypto', c, 'hmac', ['sha256', 'k3y', 'a=1&b=2']);
  add('nodecrypto', c, 'hmac', ['md5', 'k3y', '']);
  add('nodecrypto', c, 'hashBuffer', ['bytes']);
  const key16 = '000102030405060708090a0b0c0d0e0f';
  const key32 = key16 + key16;
  const iv = '0f0e0d0c0b0a09080706050403020100';
  const plain = '{"user":"alice","签名":true}';
  for (const [alg, key, ivHex] of [['aes-128-cbc', key16, iv], ['aes-256-cbc', key32, iv], ['aes-128-ecb', key16, ''],
    ['des-ede3-cbc', key16 + key16.slice(0, 16), iv.slice(0, 16)]]) {
    for (const enc of ['base64', 'hex']) {
      const ct = add('nodecrypto', c, 'encrypt', [alg, key, ivHex, plain, enc]);
      add('nodecrypto', c, 'decrypt', [alg, key, ivHex, ct, enc], plain);
    }
  }
  add('nodecrypto', c, 'encryptNoPadding', [key16, iv, '00112233445566778899aabbccddeeff']);
}

const out = {
  generated_by: 'node ' + process.version + ' (gen_expected.js)',
  rsa_public_pem: rsa.publicKey,
  rsa_private_pem: rsa.privateKey,
  cases,
};
fs.writeFileSync(path.join(here, 'expected.json'), JSON.stringify(out, null, 2) + '\n');
console.log(`wrote ${cases.length} cases to expected.json`);

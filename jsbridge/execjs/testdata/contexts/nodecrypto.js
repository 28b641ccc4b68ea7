// Test context: the PyExecJS style, where scripts ran under Node and used
// its crypto module. execjs provides a subset of it.
var crypto = require('crypto');

function hash(alg, s, enc) { return crypto.createHash(alg).update(s).digest(enc || 'hex'); }
function hashHexInput(alg, hexData) { return crypto.createHash(alg).update(hexData, 'hex').digest('base64'); }
function hmac(alg, key, s) { return crypto.createHmac(alg, key).update(s, 'utf8').digest('hex'); }
function hashBuffer(s) { return Array.prototype.slice.call(crypto.createHash('md5').update(Buffer.from(s)).digest()); }

function encrypt(alg, keyHex, ivHex, plain, outEnc) {
  var c = crypto.createCipheriv(alg, Buffer.from(keyHex, 'hex'), ivHex ? Buffer.from(ivHex, 'hex') : null);
  return c.update(plain, 'utf8', outEnc) + c.final(outEnc);
}

function decrypt(alg, keyHex, ivHex, data, inEnc) {
  var d = crypto.createDecipheriv(alg, Buffer.from(keyHex, 'hex'), ivHex ? Buffer.from(ivHex, 'hex') : null);
  return d.update(data, inEnc, 'utf8') + d.final('utf8');
}

function encryptNoPadding(keyHex, ivHex, hexData) {
  var c = crypto.createCipheriv('aes-128-cbc', Buffer.from(keyHex, 'hex'), Buffer.from(ivHex, 'hex'));
  c.setAutoPadding(false);
  return c.update(hexData, 'hex', 'hex') + c.final('hex');
}

// Test context: crypto-js 4.2.0 loaded as a browser script (root.CryptoJS).
importScripts('../vendor/crypto-js/crypto-js.js');

function md5(s) { return CryptoJS.MD5(s).toString(); }
function sha1(s) { return CryptoJS.SHA1(s).toString(); }
function sha256(s) { return CryptoJS.SHA256(s).toString(); }
function hmacSHA256(s, key) { return CryptoJS.HmacSHA256(s, key).toString(); }

function aesCbcEncrypt(plain, keyHex, ivHex) {
  var key = CryptoJS.enc.Hex.parse(keyHex);
  var iv = CryptoJS.enc.Hex.parse(ivHex);
  return CryptoJS.AES.encrypt(plain, key, { iv: iv, mode: CryptoJS.mode.CBC, padding: CryptoJS.pad.Pkcs7 }).toString();
}

function aesCbcDecrypt(b64, keyHex, ivHex) {
  var key = CryptoJS.enc.Hex.parse(keyHex);
  var iv = CryptoJS.enc.Hex.parse(ivHex);
  return CryptoJS.AES.decrypt(b64, key, { iv: iv, mode: CryptoJS.mode.CBC, padding: CryptoJS.pad.Pkcs7 }).toString(CryptoJS.enc.Utf8);
}

// Test context: sm-crypto 0.5.8 browser bundles (globals sm2, sm3, sm4).
importScripts('../vendor/sm-crypto/sm2.js', '../vendor/sm-crypto/sm3.js', '../vendor/sm-crypto/sm4.js');

function sm2Verify(msg, sigHex, publicKey) {
  return sm2.doVerifySignature(msg, sigHex, publicKey, { hash: true });
}

function sm2SignVerify(msg, privateKey, publicKey) {
  var sig = sm2.doSignature(msg, privateKey, { hash: true });
  return sm2.doVerifySignature(msg, sig, publicKey, { hash: true });
}

function sm2RoundTrip(msg, privateKey, publicKey) {
  return sm2.doDecrypt(sm2.doEncrypt(msg, publicKey, 1), privateKey, 1);
}

function sm3Hash(s) { return sm3(s); }

function sm4EcbEncrypt(plain, keyHex) { return sm4.encrypt(plain, keyHex); }
function sm4EcbDecrypt(hex, keyHex) { return sm4.decrypt(hex, keyHex); }
function sm4CbcEncrypt(plain, keyHex, ivHex) { return sm4.encrypt(plain, keyHex, { mode: 'cbc', iv: ivHex }); }
function sm4CbcDecrypt(hex, keyHex, ivHex) { return sm4.decrypt(hex, keyHex, { mode: 'cbc', iv: ivHex }); }

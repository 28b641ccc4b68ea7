// Test context: jsencrypt 2.3.1, which reads navigator.appName and
// window.crypto while it loads and publishes JSEncrypt on the root object.
importScripts('../vendor/jsencrypt/jsencrypt.js');

function rsaDecrypt(privatePem, cipherB64) {
  var c = new JSEncrypt();
  c.setPrivateKey(privatePem);
  return c.decrypt(cipherB64);
}

function rsaEncrypt(publicPem, plain) {
  var c = new JSEncrypt();
  c.setPublicKey(publicPem);
  return c.encrypt(plain);
}

function rsaRoundTrip(publicPem, privatePem, plain) {
  return rsaDecrypt(privatePem, rsaEncrypt(publicPem, plain));
}

// Test context: js-md5 0.8.3 minified build, which publishes md5 on
// window only (no module, no process here), as on a web page.
importScripts('../vendor/js-md5/md5.min.js');

function md5Hex(s) { return window.md5(s); }
function md5Bytes(bytes) { return window.md5(bytes); }
function md5Base64(s) { return window.md5.base64(s); }

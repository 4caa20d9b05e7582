// Mint PicStream image URLs from Node.js with no dependencies; spec: docs/signing.md.
// Usage: node examples/sign.js KEY card.png name='John Smith' w=600
'use strict';
const crypto = require('node:crypto');

const SALT = 'picstream.url.v1';

// Percent-encode all but A-Z a-z 0-9 - . _ ~ (Python's quote(safe="")): encodeURIComponent
// also leaves ! ' ( ) * alone, so escape those too.
const enc = (s) => encodeURIComponent(String(s))
  .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

// `params` holds variables and output options (w, h, q, dpr, v, exp, debug) as strings.
// Names are ASCII, so the default sort matches the server's.
function canonical(template, fmt, params) {
  if (fmt === 'jpg') fmt = 'jpeg'; // one name per format: a .jpg URL is redirected
  const query = Object.keys(params).sort().map((k) => `${enc(k)}=${enc(params[k])}`).join('&');
  return query ? `${template}.${fmt}?${query}` : `${template}.${fmt}`;
}

// itsdangerous with key_derivation="hmac": HMAC(HMAC(key, salt), canonical), base64url, no "=".
function signature(canonicalForm, key) {
  const derived = crypto.createHmac('sha256', key).update(SALT).digest();
  return crypto.createHmac('sha256', derived).update(canonicalForm).digest('base64url');
}

function signPath(template, fmt, params, key) {
  const c = canonical(template, fmt, params);
  return `/i/${signature(c, key)}/${c}`;
}

module.exports = { canonical, signature, signPath };

if (require.main === module) {
  const [key, file, ...pairs] = process.argv.slice(2);
  const dot = file.lastIndexOf('.');
  const params = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i < 0) throw new Error(`expected name=value, got ${pair}`);
    params[pair.slice(0, i)] = pair.slice(i + 1);
  }
  console.log(signPath(file.slice(0, dot), file.slice(dot + 1), params, key));
}

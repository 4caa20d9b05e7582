// Mint signed PicStream image URLs from Node.js: one ES module, no dependencies.
// Spec and test vectors: docs/signing.md. Types: picstream.d.ts.
import { createHmac } from 'node:crypto';

const SALT = 'picstream.url.v1';

/** Percent-encode all but A-Z a-z 0-9 - . _ ~ (encodeURIComponent leaves ! ' ( ) * too). */
const enc = (s) => encodeURIComponent(s)
  .replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

/** Booleans as true/false, numbers in their shortest form (2, 1.5), strings as they are. */
const text = (value) => (typeof value === 'boolean' ? (value ? 'true' : 'false') : String(value));

/**
 * The string that is signed: `template.fmt?name=value&...`, pairs sorted by name.
 * @param {string} template @param {string} fmt
 * @param {Record<string, string | number | boolean>} [params] variables and output options
 * @returns {string}
 */
export function canonical(template, fmt, params = {}) {
  if (fmt === 'jpg') fmt = 'jpeg'; // one name per format: a .jpg URL is redirected
  // Names are ASCII (docs/signing.md), so the default UTF-16 sort is the server's byte order.
  const query = Object.keys(params).sort()
    .map((name) => `${enc(name)}=${enc(text(params[name]))}`).join('&');
  return query ? `${template}.${fmt}?${query}` : `${template}.${fmt}`;
}

/**
 * HMAC-SHA256 with a key derived from the salt (itsdangerous's "hmac" derivation), base64url.
 * @param {string} canonicalForm @param {string} key @returns {string}
 */
export function signature(canonicalForm, key) {
  const derived = createHmac('sha256', key).update(SALT).digest();
  return createHmac('sha256', derived).update(canonicalForm).digest('base64url');
}

/**
 * `/i/{signature}/{canonical}`: append it to your PicStream (or CDN) origin.
 * @param {string} template @param {string} fmt
 * @param {Record<string, string | number | boolean>} params @param {string} key
 * @returns {string}
 */
export function signPath(template, fmt, params, key) {
  const c = canonical(template, fmt, params);
  return `/i/${signature(c, key)}/${c}`;
}

/**
 * A full signed URL: `signUrl('https://img.example.com', 'social-card', 'webp', {name: 'Ada', w: 600}, key)`.
 * @param {string} baseUrl @param {string} template @param {string} fmt
 * @param {Record<string, string | number | boolean>} params @param {string} key
 * @returns {string}
 */
export function signUrl(baseUrl, template, fmt, params, key) {
  return baseUrl.replace(/\/+$/, '') + signPath(template, fmt, params, key);
}

// Types of picstream.js: mint signed PicStream image URLs (docs/signing.md).

/** Template variables plus output options (w, h, q, dpr, v, exp, debug). */
export type Params = Record<string, string | number | boolean>;

/** Image formats a URL may ask for (`auto` picks one from the Accept header). */
export type Format = 'webp' | 'avif' | 'png' | 'jpeg' | 'gif' | 'auto';

/** The signed string: `template.fmt?name=value&...`, pairs sorted by name. */
export function canonical(template: string, fmt: Format, params?: Params): string;

/** The 43-character base64url signature of a canonical form. */
export function signature(canonicalForm: string, key: string): string;

/** `/i/{signature}/{canonical}`. */
export function signPath(template: string, fmt: Format, params: Params, key: string): string;

/** `baseUrl` + `signPath(...)`. */
export function signUrl(baseUrl: string, template: string, fmt: Format, params: Params,
                        key: string): string;

<?php
// Mint signed PicStream image URLs from PHP (7.4+), no extensions beyond the defaults.
// Spec and test vectors: docs/signing.md.

declare(strict_types=1);

final class PicStream
{
    private const SALT = 'picstream.url.v1';

    /** The signed string: "template.fmt?name=value&...", pairs sorted by name. */
    public static function canonical(string $template, string $fmt, array $params = []): string
    {
        // Names are ASCII (docs/signing.md): a byte-wise sort is the server's order.
        ksort($params, SORT_STRING);
        $pairs = [];
        foreach ($params as $name => $value) {
            // rawurlencode keeps exactly A-Z a-z 0-9 - . _ ~ (RFC 3986), as the server does.
            $pairs[] = rawurlencode((string) $name) . '=' . rawurlencode(self::text($value));
        }
        // One name per format: a .jpg URL is redirected.
        $base = $template . '.' . ($fmt === 'jpg' ? 'jpeg' : $fmt);
        return $pairs ? $base . '?' . implode('&', $pairs) : $base;
    }

    /** HMAC-SHA256 with a key derived from the salt (itsdangerous's "hmac"), base64url. */
    public static function signature(string $canonical, string $key): string
    {
        $derived = hash_hmac('sha256', self::SALT, $key, true);
        $mac = hash_hmac('sha256', $canonical, $derived, true);
        return rtrim(strtr(base64_encode($mac), '+/', '-_'), '=');
    }

    /** "/i/{signature}/{canonical}". */
    public static function signPath(string $template, string $fmt, array $params, string $key): string
    {
        $canonical = self::canonical($template, $fmt, $params);
        return '/i/' . self::signature($canonical, $key) . '/' . $canonical;
    }

    /** PicStream::signUrl('https://img.example.com', 'social-card', 'webp', ['name' => 'Ada', 'w' => 600], $key) */
    public static function signUrl(string $baseUrl, string $template, string $fmt, array $params, string $key): string
    {
        return rtrim($baseUrl, '/') . self::signPath($template, $fmt, $params, $key);
    }

    /** Booleans as true/false, numbers as written (2, 1.5), strings as they are. */
    private static function text($value): string
    {
        if (is_bool($value)) {
            return $value ? 'true' : 'false';
        }
        return (string) $value;
    }
}

// Package picstream mints signed PicStream image URLs; standard library only.
// Spec and test vectors: docs/signing.md.
package picstream

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
)

const salt = "picstream.url.v1"

// Canonical is the signed string: "template.fmt?name=value&...", pairs sorted by name.
// params holds template variables and output options (w, h, q, dpr, v, exp) as strings.
func Canonical(template, format string, params map[string]string) string {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names) // byte order, as the server sorts (names are ASCII)
	if format == "jpg" {
		format = "jpeg" // one name per format: a .jpg URL is redirected
	}
	var b strings.Builder
	b.WriteString(template + "." + format)
	for i, name := range names {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(escape(name) + "=" + escape(params[name]))
	}
	return b.String()
}

// Signature is HMAC-SHA256 with a key derived from the salt (itsdangerous's "hmac"), base64url.
func Signature(canonical, key string) string {
	derive := hmac.New(sha256.New, []byte(key))
	derive.Write([]byte(salt))
	mac := hmac.New(sha256.New, derive.Sum(nil))
	mac.Write([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// SignPath returns "/i/{signature}/{canonical}".
func SignPath(template, format string, params map[string]string, key string) string {
	c := Canonical(template, format, params)
	return "/i/" + Signature(c, key) + "/" + c
}

// SignURL returns baseURL + SignPath(...), e.g.
// SignURL("https://img.example.com", "social-card", "webp", map[string]string{"name": "Ada", "w": "600"}, key).
func SignURL(baseURL, template, format string, params map[string]string, key string) string {
	return strings.TrimRight(baseURL, "/") + SignPath(template, format, params, key)
}

// escape writes every UTF-8 byte but A-Z a-z 0-9 - . _ ~ as %XX, uppercase
// (url.QueryEscape would write a space as "+").
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

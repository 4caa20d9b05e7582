# frozen_string_literal: true

# Mint signed PicStream image URLs from Ruby, standard library only.
# Spec and test vectors: docs/signing.md.
require 'base64'
require 'openssl'

module PicStream
  SALT = 'picstream.url.v1'

  module_function

  # The signed string: "template.fmt?name=value&...", pairs sorted by name.
  def canonical(template, fmt, params = {})
    # Names are ASCII (docs/signing.md): String#<=> compares bytes, as the server does.
    query = params.map { |name, value| [name.to_s, text(value)] }.sort_by(&:first)
                  .map { |name, value| "#{enc(name)}=#{enc(value)}" }.join('&')
    fmt = 'jpeg' if fmt == 'jpg' # one name per format: a .jpg URL is redirected
    query.empty? ? "#{template}.#{fmt}" : "#{template}.#{fmt}?#{query}"
  end

  # HMAC-SHA256 with a key derived from the salt (itsdangerous's "hmac"), base64url.
  def signature(canonical, key)
    derived = OpenSSL::HMAC.digest('SHA256', key, SALT)
    Base64.urlsafe_encode64(OpenSSL::HMAC.digest('SHA256', derived, canonical), padding: false)
  end

  # "/i/{signature}/{canonical}".
  def sign_path(template, fmt, params, key)
    c = canonical(template, fmt, params)
    "/i/#{signature(c, key)}/#{c}"
  end

  # PicStream.sign_url('https://img.example.com', 'social-card', 'webp', { name: 'Ada', w: 600 }, key)
  def sign_url(base_url, template, fmt, params, key)
    base_url.sub(%r{/+\z}, '') + sign_path(template, fmt, params, key)
  end

  # Every UTF-8 byte but A-Z a-z 0-9 - . _ ~ as %XX, uppercase.
  def enc(str)
    str.to_s.b.gsub(/[^A-Za-z0-9\-._~]/n) { |c| format('%%%02X', c.ord) }
  end

  # Booleans as true/false, whole floats without ".0" (dpr 2.0 is "2"), others as written.
  def text(value)
    case value
    when true then 'true'
    when false then 'false'
    when Float then value == value.to_i ? value.to_i.to_s : value.to_s
    else value.to_s
    end
  end
end

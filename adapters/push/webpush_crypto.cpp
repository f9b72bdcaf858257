#include "adapters/push/webpush_crypto.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace herald::webpush::crypto {

namespace {

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string{"OpenSSL: "} + what + " failed");
}

struct free_bn {
  void operator()(BIGNUM* p) const { BN_clear_free(p); }
};
struct free_group {
  void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
};
struct free_point {
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
};
struct free_pkey_ctx {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct free_param_bld {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct free_params {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct free_cipher_ctx {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct free_md_ctx {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct free_ecdsa_sig {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct free_kdf {
  void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
};
struct free_kdf_ctx {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};

p256_key adopt(EVP_PKEY* raw) {
  return p256_key{raw, EVP_PKEY_free};
}

/// The key `selection` of `params` describes on P-256, or null when OpenSSL refuses it.
p256_key from_params(const OSSL_PARAM* params, int selection) {
  std::unique_ptr<EVP_PKEY_CTX, free_pkey_ctx> ctx{EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)};
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0) {
    fail("EVP_PKEY_fromdata_init");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, selection, const_cast<OSSL_PARAM*>(params)) <= 0) {
    return nullptr;
  }
  return adopt(raw);
}

std::unique_ptr<OSSL_PARAM, free_params> key_params(std::string_view point, const BIGNUM* scalar) {
  std::unique_ptr<OSSL_PARAM_BLD, free_param_bld> bld{OSSL_PARAM_BLD_new()};
  if (!bld
      || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1
      || OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                          point.size())
           != 1
      || (scalar != nullptr
          && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, scalar) != 1)) {
    fail("OSSL_PARAM_BLD_push");
  }
  std::unique_ptr<OSSL_PARAM, free_params> params{OSSL_PARAM_BLD_to_param(bld.get())};
  if (!params) {
    fail("OSSL_PARAM_BLD_to_param");
  }
  return params;
}

} // namespace

p256_key public_key(std::string_view point) {
  // Only the uncompressed form: OpenSSL would take a compressed point too.
  if (point.size() != point_size || static_cast<unsigned char>(point[0]) != 0x04) {
    return nullptr;
  }
  auto params = key_params(point, nullptr);
  auto key = from_params(params.get(), EVP_PKEY_PUBLIC_KEY);
  if (!key) {
    return nullptr;
  }
  std::unique_ptr<EVP_PKEY_CTX, free_pkey_ctx> check{EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr)};
  if (!check) {
    fail("EVP_PKEY_CTX_new_from_pkey");
  }
  // On the curve, not the point at infinity, in the prime-order group.
  if (EVP_PKEY_public_check(check.get()) != 1) {
    return nullptr;
  }
  return key;
}

p256_key private_key(std::string_view scalar) {
  if (scalar.size() != scalar_size) {
    return nullptr;
  }
  std::unique_ptr<EC_GROUP, free_group> group{EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)};
  std::unique_ptr<BIGNUM, free_bn> d{BN_bin2bn(bytes_of(scalar), static_cast<int>(scalar.size()), nullptr)};
  if (!group || !d) {
    fail("EC_GROUP_new_by_curve_name");
  }
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group.get())) >= 0) {
    return nullptr;
  }
  std::unique_ptr<EC_POINT, free_point> q{EC_POINT_new(group.get())};
  if (!q || EC_POINT_mul(group.get(), q.get(), d.get(), nullptr, nullptr, nullptr) != 1) {
    fail("EC_POINT_mul");
  }
  std::string point(point_size, '\0');
  if (EC_POINT_point2oct(group.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED,
                         reinterpret_cast<unsigned char*>(point.data()), point.size(), nullptr)
      != point_size) {
    fail("EC_POINT_point2oct");
  }
  auto params = key_params(point, d.get());
  auto key = from_params(params.get(), EVP_PKEY_KEYPAIR);
  if (!key) {
    fail("EVP_PKEY_fromdata (key pair)");
  }
  return key;
}

p256_key generate_key() {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  if (raw == nullptr) {
    fail("EVP_PKEY_Q_keygen");
  }
  return adopt(raw);
}

std::string public_point(const p256_key& key) {
  std::string point(point_size, '\0');
  std::size_t length = 0;
  if (!key
      || EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                         reinterpret_cast<unsigned char*>(point.data()),
                                         point.size(), &length)
           != 1
      || length != point_size) {
    fail("EVP_PKEY_get_octet_string_param (public point)");
  }
  return point;
}

std::string private_scalar(const p256_key& key) {
  BIGNUM* raw = nullptr;
  if (!key || EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_PRIV_KEY, &raw) != 1) {
    return {};
  }
  std::unique_ptr<BIGNUM, free_bn> d{raw};
  std::string scalar(scalar_size, '\0');
  if (BN_bn2binpad(d.get(), reinterpret_cast<unsigned char*>(scalar.data()),
                   static_cast<int>(scalar.size()))
      != static_cast<int>(scalar_size)) {
    fail("BN_bn2binpad");
  }
  return scalar;
}

std::string ecdh(const p256_key& own, const p256_key& peer) {
  std::unique_ptr<EVP_PKEY_CTX, free_pkey_ctx> ctx{EVP_PKEY_CTX_new_from_pkey(nullptr, own.get(), nullptr)};
  std::size_t length = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0
      || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) <= 0
      || EVP_PKEY_derive(ctx.get(), nullptr, &length) <= 0) {
    fail("EVP_PKEY_derive_init");
  }
  std::string secret(length, '\0');
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(secret.data()), &length) <= 0) {
    fail("EVP_PKEY_derive");
  }
  secret.resize(length);
  return secret;
}

std::string hkdf_sha256(std::string_view salt, std::string_view ikm, std::string_view info,
                        std::size_t length) {
  std::unique_ptr<EVP_KDF, free_kdf> kdf{EVP_KDF_fetch(nullptr, "HKDF", nullptr)};
  std::unique_ptr<EVP_KDF_CTX, free_kdf_ctx> ctx{kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr};
  if (!ctx) {
    fail("EVP_KDF_fetch(HKDF)");
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size()),
    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                      salt.size()),
    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                      info.size()),
    OSSL_PARAM_construct_end(),
  };
  std::string out(length, '\0');
  if (EVP_KDF_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), out.size(), params)
      != 1) {
    fail("EVP_KDF_derive(HKDF)");
  }
  return out;
}

std::string aes128gcm_seal(std::string_view key, std::string_view nonce,
                           std::string_view plaintext) {
  if (key.size() != 16 || nonce.size() != 12) {
    throw std::invalid_argument("aes128gcm_seal: a 16-byte key and a 12-byte nonce");
  }
  std::unique_ptr<EVP_CIPHER_CTX, free_cipher_ctx> ctx{EVP_CIPHER_CTX_new()};
  std::string out(plaintext.size() + gcm_tag_size, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int n = 0;
  int tail = 0;
  if (!ctx
      || EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, bytes_of(key), bytes_of(nonce))
           != 1
      || EVP_EncryptUpdate(ctx.get(), o, &n, bytes_of(plaintext), static_cast<int>(plaintext.size()))
           != 1
      || EVP_EncryptFinal_ex(ctx.get(), o + n, &tail) != 1
      || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, gcm_tag_size, o + n + tail) != 1) {
    fail("AES-128-GCM encryption");
  }
  return out;
}

std::optional<std::string> aes128gcm_open(std::string_view key, std::string_view nonce,
                                          std::string_view sealed) {
  if (key.size() != 16 || nonce.size() != 12 || sealed.size() < gcm_tag_size) {
    return std::nullopt;
  }
  auto body = sealed.substr(0, sealed.size() - gcm_tag_size);
  std::string tag{sealed.substr(body.size())};
  std::unique_ptr<EVP_CIPHER_CTX, free_cipher_ctx> ctx{EVP_CIPHER_CTX_new()};
  std::string out(body.size(), '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int n = 0;
  int tail = 0;
  if (!ctx
      || EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, bytes_of(key), bytes_of(nonce))
           != 1
      || EVP_DecryptUpdate(ctx.get(), o, &n, bytes_of(body), static_cast<int>(body.size())) != 1
      || EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, gcm_tag_size, tag.data()) != 1) {
    fail("AES-128-GCM decryption");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), o + n, &tail) != 1) {
    return std::nullopt; // the tag does not check
  }
  return out;
}

std::string es256_sign(const p256_key& key, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, free_md_ctx> ctx{EVP_MD_CTX_new()};
  std::size_t length = 0;
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.get(), nullptr) != 1
      || EVP_DigestSign(ctx.get(), nullptr, &length, bytes_of(data), data.size()) != 1) {
    fail("EVP_DigestSignInit");
  }
  std::string der(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &length,
                     bytes_of(data), data.size())
      != 1) {
    fail("EVP_DigestSign");
  }
  // OpenSSL signs in DER (SEQUENCE {r, s}); JWS wants r and s as 32 bytes each.
  const auto* p = bytes_of(der);
  std::unique_ptr<ECDSA_SIG, free_ecdsa_sig> sig{d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(length))};
  if (!sig) {
    fail("d2i_ECDSA_SIG");
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(64, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, o, 32) != 32 || BN_bn2binpad(s, o + 32, 32) != 32) {
    fail("BN_bn2binpad");
  }
  return out;
}

bool es256_verify(const p256_key& key, std::string_view data, std::string_view signature) {
  if (!key || signature.size() != 64) {
    return false;
  }
  std::unique_ptr<ECDSA_SIG, free_ecdsa_sig> sig{ECDSA_SIG_new()};
  BIGNUM* r = BN_bin2bn(bytes_of(signature), 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes_of(signature) + 32, 32, nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    fail("ECDSA_SIG_set0");
  }
  unsigned char* der = nullptr;
  int der_length = i2d_ECDSA_SIG(sig.get(), &der);
  if (der_length <= 0) {
    fail("i2d_ECDSA_SIG");
  }
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned{
    der, [](unsigned char* p) { OPENSSL_free(p); }};
  std::unique_ptr<EVP_MD_CTX, free_md_ctx> ctx{EVP_MD_CTX_new()};
  if (!ctx
      || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.get(), nullptr)
           != 1) {
    fail("EVP_DigestVerifyInit");
  }
  return EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_length), bytes_of(data),
                          data.size())
         == 1;
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    fail("RAND_bytes");
  }
  return out;
}

} // namespace herald::webpush::crypto

#pragma once

// RS256 for the tests (header-only: the FCM unit test and the fake FCM service both use
// it): a fresh RSA key pair as PEM, and checking an RS256 signature (RSASSA-PKCS1-v1_5
// with SHA-256, as in a JWT) with OpenSSL.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace herald::test {

/// An RSA key pair as PEM (PKCS#8 private key, SubjectPublicKeyInfo public key).
struct rsa_key_pair {
  std::string private_pem;
  std::string public_pem;
};

/// A fresh 2048-bit RSA key pair.
inline rsa_key_pair make_rsa_key() {
  rsa_key_pair k;
  EVP_PKEY* pkey = EVP_RSA_gen(2048);
  if (pkey == nullptr) {
    throw std::runtime_error("EVP_RSA_gen failed");
  }
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(priv, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_PUBKEY(pub, pkey);
  char* data = nullptr;
  auto n = BIO_get_mem_data(priv, &data);
  k.private_pem.assign(data, static_cast<std::size_t>(n));
  n = BIO_get_mem_data(pub, &data);
  k.public_pem.assign(data, static_cast<std::size_t>(n));
  BIO_free(priv);
  BIO_free(pub);
  EVP_PKEY_free(pkey);
  return k;
}

/// True when `signature` (raw bytes) signs `input` under the PEM public key `public_pem`.
inline bool verify_rs256(const std::string& public_pem, std::string_view input,
                         const std::string& signature) {
  BIO* bio = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = key != nullptr && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1
            && EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                                signature.size(),
                                reinterpret_cast<const unsigned char*>(input.data()),
                                input.size())
                 == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

} // namespace herald::test

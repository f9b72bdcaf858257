#pragma once

// Checks an RS256 signature (RSASSA-PKCS1-v1_5 with SHA-256, as in a JWT) with OpenSSL
// (header-only: the FCM unit test and the fake FCM service both use it).

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>
#include <string_view>

namespace herald::test {

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

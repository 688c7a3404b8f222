#pragma once

// Tokens and keys made in tests, with libjwt and OpenSSL: shared by the unit
// tests of net/auth and the integration tests that talk to a real chatd.

#include <jwt.h>
#include <nlohmann/json.hpp>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace chatd::test_jwt {

// A token with these claims, signed with `alg` and `key` (JWT_ALG_NONE: unsigned).
inline std::string make_token(const nlohmann::json& claims, jwt_alg_t alg, std::string_view key) {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0)
    throw std::runtime_error("jwt_new");
  std::unique_ptr<jwt_t, void (*)(jwt_t*)> jwt{raw, jwt_free};
  if (jwt_add_grants_json(jwt.get(), claims.dump().c_str()) != 0)
    throw std::runtime_error("jwt_add_grants_json");
  if (alg != JWT_ALG_NONE && jwt_set_alg(jwt.get(), alg, reinterpret_cast<const unsigned char*>(key.data()),
                                         static_cast<int>(key.size())) != 0)
    throw std::runtime_error("jwt_set_alg");
  char* text = jwt_encode_str(jwt.get());
  if (!text)
    throw std::runtime_error("jwt_encode_str");
  std::string token = text;
  std::free(text); // libjwt 1.10 allocates with malloc unless told otherwise
  return token;
}

struct key_pair {
  std::string private_pem, public_pem;
};

inline std::string pem_of(EVP_PKEY* pkey, bool private_key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new(BIO_s_mem()), BIO_free};
  const int ok = private_key ? PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr)
                             : PEM_write_bio_PUBKEY(bio.get(), pkey);
  if (ok != 1)
    throw std::runtime_error("PEM_write");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

// Both PEM forms of a key just generated (e.g. EVP_RSA_gen(2048)), which it frees.
inline key_pair make_key_pair(EVP_PKEY* generated) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey{generated, EVP_PKEY_free};
  if (!pkey)
    throw std::runtime_error("key generation failed");
  return {pem_of(pkey.get(), true), pem_of(pkey.get(), false)};
}

} // namespace chatd::test_jwt

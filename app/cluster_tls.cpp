#include "app/cluster_tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509err.h>

#include <cstdio>
#include <memory>

namespace chatd::app {

namespace {

std::string openssl_error() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

template <class T, void (*Free)(T*)>
using owned = std::unique_ptr<T, decltype([](T* p) { Free(p); })>;

} // namespace

std::optional<std::string> check_cluster_credentials(const std::string& cert, const std::string& key,
                                                     const std::string& ca) {
  ERR_clear_error();
  owned<SSL_CTX, SSL_CTX_free> ctx{SSL_CTX_new(TLS_method())};
  if (!ctx)
    return "cannot create a TLS context: " + openssl_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1)
    return "cannot load --cluster-cert " + cert + ": " + openssl_error();
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
      return "--cluster-key " + key + " does not belong to --cluster-cert " + cert;
    return "cannot load --cluster-key " + key + ": " + openssl_error();
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return "--cluster-key " + key + " does not belong to --cluster-cert " + cert;
  if (SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr) != 1)
    return "cannot load --cluster-ca " + ca + ": " + openssl_error();

  owned<X509_STORE_CTX, X509_STORE_CTX_free> verify{X509_STORE_CTX_new()};
  X509* leaf = SSL_CTX_get0_certificate(ctx.get());
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx.get(), &chain);
  if (!verify || X509_STORE_CTX_init(verify.get(), SSL_CTX_get_cert_store(ctx.get()), leaf, chain) != 1)
    return "cannot check --cluster-cert: " + openssl_error();
  if (X509_verify_cert(verify.get()) != 1)
    return "--cluster-cert " + cert + " is not valid under --cluster-ca " + ca + ": " +
           X509_verify_cert_error_string(X509_STORE_CTX_get_error(verify.get()));
  return std::nullopt;
}

} // namespace chatd::app

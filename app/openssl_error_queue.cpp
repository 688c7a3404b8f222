// CAF 0.17's OpenSSL module calls SSL_get_error() after SSL_read/SSL_write/
// SSL_connect/SSL_accept without clearing OpenSSL's per-thread error queue
// first, which OpenSSL requires. So when one TLS link ends badly (a killed
// peer, a redundant connection CAF closes), the error left in the queue of
// CAF's network thread makes the next I/O call on every *other* link look
// failed, and CAF drops those links too (found by tests/faults: killing one
// node cost the two survivors their link to each other).
//
// chatd defines these four functions itself: the dynamic linker binds CAF's
// calls to the executable's definitions first, and each clears the queue,
// then calls OpenSSL's own function.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace {

template <class F>
F next(const char* name) {
  void* f = ::dlsym(RTLD_NEXT, name);
  if (!f) {
    std::fprintf(stderr, "chatd: cannot find OpenSSL's %s\n", name);
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto real = next<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto real = next<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_connect(SSL* ssl) {
  static const auto real = next<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

int SSL_accept(SSL* ssl) {
  static const auto real = next<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"

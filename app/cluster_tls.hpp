#pragma once

#include <optional>
#include <string>

namespace chatd::app {

// Checks the cluster credentials before anything starts: the files load, the
// key belongs to the certificate, and the certificate is signed by the CA
// (as peers will check it). Returns what is wrong, or nothing. CAF would only
// find out on the first connection, and then fail in its network thread.
std::optional<std::string> check_cluster_credentials(const std::string& cert, const std::string& key,
                                                     const std::string& ca);

} // namespace chatd::app

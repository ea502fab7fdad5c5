// Loopback ports for the test servers (s3rver, RGW): a free one to listen on, and whether
// something accepts connections on one yet.
#pragma once

#include <cstdint>

#include "common/result.h"

namespace shoal::test {

// A port nobody listens on right now (bound once and released; the caller binds it next).
Result<uint16_t> free_loopback_port();

// Whether a TCP connection to 127.0.0.1:port is accepted.
bool accepts_connections(uint16_t port);

}  // namespace shoal::test

// Frontend tests run the server on a PollReactor on the test thread and the client side —
// blocking socket calls, file system calls, commands — on a helper thread.
#pragma once

#include <functional>

#include "common/poll_reactor.h"

namespace shoal::test {

// Runs `script` on a helper thread while this thread runs `loop`, until the script returns.
// gtest assertions in the script count for the test (a fatal one ends only the script).
void serve_while(PollReactor& loop, const std::function<void()>& script);

}  // namespace shoal::test

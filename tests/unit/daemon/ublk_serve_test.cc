// A ublk server for the QEMU guest, not a host test (the host has no ublk_drv): the disabled
// test below serves an image through UblkFrontend with user recovery on, until SIGTERM. The
// scenario tests/vm/scenarios/ublk_recovery.sh runs it inside the guest:
//
//   SHOAL_UBLK_IMAGE=/data/tree.erofs [SHOAL_UBLK_RECOVER=N] daemon_ublk_serve_test
//       --gtest_also_run_disabled_tests --gtest_filter=UblkServe.DISABLED_ImageUntilSigterm
//
// With SHOAL_UBLK_RECOVER=N it takes over device N, whose server died, instead of adding one.
// It fails (non-zero exit) if the device cannot be set up or started.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "daemon/frontends/frontend.h"
#include "daemon/image_file_device.h"
#include "daemon/uring_reactor.h"

namespace shoal {
namespace {

TEST(UblkServe, DISABLED_ImageUntilSigterm) {
  const char* image = std::getenv("SHOAL_UBLK_IMAGE");
  ASSERT_NE(image, nullptr) << "set SHOAL_UBLK_IMAGE to the image to serve";
  const char* recover = std::getenv("SHOAL_UBLK_RECOVER");

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  ASSERT_EQ(sigprocmask(SIG_BLOCK, &signals, nullptr), 0);
  int signal_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  ASSERT_GE(signal_fd, 0);

  auto reactor = UringReactor::create();
  ASSERT_TRUE(reactor.ok()) << reactor.error().describe();
  auto device = ImageFileDevice::open(image, **reactor);
  ASSERT_TRUE(device.ok()) << device.error().describe();

  FrontendOptions options;
  options.ublk_user_recovery = true;
  if (recover != nullptr) options.ublk_recover_device = std::atoi(recover);
  bool failed = false;
  options.on_ready = [&](const Status& status) {
    if (status.ok()) {
      std::fprintf(stderr, "ublk-serve: device ready\n");
      return;
    }
    std::fprintf(stderr, "ublk-serve: %s\n", status.error().describe().c_str());
    failed = true;
    (*reactor)->stop();
  };
  auto frontend = make_frontend("ublk", options, **reactor, **device);
  ASSERT_TRUE(frontend.ok());
  Status started = (*frontend)->start();
  ASSERT_TRUE(started.ok()) << started.error().describe();
  std::fprintf(stderr, "ublk-serve: serving %s\n", (*frontend)->describe().c_str());

  (*reactor)->watch(signal_fd, Reactor::kReadable, [&](uint32_t) {
    signalfd_siginfo info{};
    while (read(signal_fd, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
      (*reactor)->stop();
    }
  });
  (*reactor)->run();
  (*reactor)->unwatch(signal_fd);
  close(signal_fd);
  (*frontend)->stop();
  EXPECT_FALSE(failed);
}

}  // namespace
}  // namespace shoal

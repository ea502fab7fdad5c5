// shoal writer: the append-log writer. `shoal writer [run] --config FILE` runs it; `put`,
// `status` and `flush` talk to the running one over the control socket its config names (or
// derives from the journal path).
#include <algorithm>
#include <atomic>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "common/control.h"
#include "common/log.h"
#include "tools/shoal/commands.h"
#include "tools/shoal/store_options.h"
#include "writer/config.h"
#include "writer/writer.h"

namespace shoal::cli {
namespace {

struct WriterOptions {
  std::string config;
  std::vector<std::string> files;
  std::string key;
  bool wait = false;
  uint64_t timeout_s = 0;
};

Writer* g_running = nullptr;

void on_stop_signal(int) {
  if (g_running) g_running->request_stop();
}

std::optional<WriterConfig> load_config(const WriterOptions& o, int& exit_code) {
  if (o.config.empty()) {
    exit_code = report_usage("writer: --config FILE is required");
    return std::nullopt;
  }
  auto config = load_writer_config(o.config);
  if (!config.ok()) {
    exit_code = report_failure("writer config", config.error());
    return std::nullopt;
  }
  return std::move(*config);
}

int run_writer(const WriterOptions& o) {
  set_log_program("shoal-writer");  // its lines stay apart from a daemon's in a shared log
  int exit_code = 0;
  auto config = load_config(o, exit_code);
  if (!config) return exit_code;
  auto writer = Writer::open(*config, process_environment());
  if (!writer.ok()) return report_failure("writer", writer.error());
  g_running = writer->get();
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  Status ran = (*writer)->run();
  g_running = nullptr;
  if (!ran.ok()) return report_failure("writer", ran.error());
  return 0;
}

// The reply of a request that succeeded, else the error that says why it did not.
Result<ControlReply> checked_call(const WriterConfig& config, const std::vector<std::string>& words) {
  auto reply = control_call(config.control_socket, words);
  if (!reply.ok() && reply.error().kind == ErrorKind::kNotFound)
    return Error(ErrorKind::kNotFound, "no shoal writer is listening on " + config.control_socket +
                                           " (is `shoal writer run` started with this config?)");
  if (!reply.ok()) return std::move(reply).error();
  if (!reply->ok) return Error(ErrorKind::kInternal, reply->error);
  return std::move(*reply);
}

// One request; prints the failure and returns nothing when it did not succeed.
std::optional<ControlReply> call(const WriterConfig& config, const std::vector<std::string>& words,
                                 std::string_view what) {
  auto reply = checked_call(config, words);
  if (!reply.ok()) {
    report_failure(what, reply.error());
    return std::nullopt;
  }
  return std::move(*reply);
}

// Takes sent at once: the writer makes the takes that arrive together durable with one
// journal fsync, so a long file list is not one fsync round trip per file.
constexpr size_t kPutsInFlight = 16;

int run_put(const WriterOptions& o) {
  int exit_code = 0;
  auto config = load_config(o, exit_code);
  if (!config) return exit_code;
  if (!o.key.empty() && o.files.size() != 1) return report_usage("writer put: --key needs exactly one FILE");
  std::vector<Result<ControlReply>> replies(o.files.size(), Error(ErrorKind::kInternal, "not sent"));
  std::atomic<size_t> next{0};
  auto send_puts = [&] {
    for (size_t i = next++; i < o.files.size(); i = next++) {
      char resolved[PATH_MAX];
      if (::realpath(o.files[i].c_str(), resolved) == nullptr) {
        replies[i] = errno_error(o.files[i], errno);
        continue;
      }
      std::vector<std::string> words = {"put", resolved};
      if (!o.key.empty()) words.push_back(o.key);
      replies[i] = checked_call(*config, words);
    }
  };
  std::vector<std::thread> senders;
  for (size_t t = 0; t < std::min(kPutsInFlight, o.files.size()); ++t) senders.emplace_back(send_puts);
  for (auto& t : senders) t.join();
  for (size_t i = 0; i < o.files.size(); ++i) {
    const auto& reply = replies[i];
    if (!reply.ok()) {
      exit_code = report_failure("writer put " + o.files[i], reply.error());
      continue;
    }
    std::printf("taken %s as %s (upload %s)\n", o.files[i].c_str(), reply->get("key").c_str(),
                reply->get("upload_id").c_str());
  }
  return exit_code;
}

int run_status(const WriterOptions& o) {
  int exit_code = 0;
  auto config = load_config(o, exit_code);
  if (!config) return exit_code;
  auto reply = call(*config, {"status"}, "writer status");
  if (!reply) return kExitFailed;
  for (const auto& [name, value] : reply->fields) std::printf("%s: %s\n", name.c_str(), value.c_str());
  return 0;
}

// Without --wait: succeeds only if everything is already durable.
int run_flush(const WriterOptions& o) {
  int exit_code = 0;
  auto config = load_config(o, exit_code);
  if (!config) return exit_code;
  uint64_t timeout_ms = o.wait ? o.timeout_s * 1000 : 1;
  auto reply = call(*config, {"flush", std::to_string(timeout_ms)}, "writer flush");
  if (!reply) return kExitFailed;
  std::printf("everything taken so far is durable in %s\n", config->destination.to_string().c_str());
  return 0;
}

void add_config(CLI::App& cmd, WriterOptions& o) {
  cmd.add_option("--config", o.config, "The writer's TOML config");
}

}  // namespace

void register_writer(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<WriterOptions>();
  CLI::App* writer = app.add_subcommand(
      "writer", "Run the append-log writer, or talk to the running one (default: run)");
  writer->require_subcommand(0, 1);
  writer->add_option("--config", o->config, "The writer's TOML config");

  CLI::App* run = writer->add_subcommand("run", "Run the writer until SIGTERM or SIGINT");
  add_config(*run, *o);
  run->callback([o, &exit_code] { exit_code = run_writer(*o); });

  CLI::App* put = writer->add_subcommand("put", "Hand files to the running writer");
  put->add_option("FILE", o->files, "Files to upload")->required();
  put->add_option("--key", o->key, "Destination key below the destination prefix (one FILE)");
  add_config(*put, *o);
  put->callback([o, &exit_code] { exit_code = run_put(*o); });

  CLI::App* status = writer->add_subcommand("status", "Show the running writer's state");
  add_config(*status, *o);
  status->callback([o, &exit_code] { exit_code = run_status(*o); });

  CLI::App* flush = writer->add_subcommand(
      "flush", "Check (or with --wait, wait) that everything taken so far is durable");
  flush->add_flag("--wait", o->wait, "Block until every file taken before now is durable");
  flush->add_option("--timeout", o->timeout_s, "With --wait: give up after this many seconds");
  add_config(*flush, *o);
  flush->callback([o, &exit_code] { exit_code = run_flush(*o); });

  writer->callback([writer, o, &exit_code] {
    if (writer->get_subcommands().empty()) exit_code = run_writer(*o);
  });
}

}  // namespace shoal::cli

// shoal bench get URI: many concurrent GETs of the objects under a prefix, to compare the
// store client with other clients (bench/get_bench.sh runs curl beside it).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <vector>

#include "tools/shoal/commands.h"
#include "tools/shoal/store_options.h"

namespace shoal::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchOptions {
  std::string uri;
  int concurrency = 64;
  uint64_t count = 1000;
  uint64_t range = 0;  // bytes per GET from offset 0; 0 = whole object
  StoreOptions store;
};

Result<std::vector<std::string>> list_keys(BlockingStore& store, const std::string& prefix,
                                           uint64_t limit) {
  std::vector<std::string> keys;
  ListQuery q;
  q.prefix = prefix;
  SHOAL_TRY(store.list_all(q, [&](const ListPage& page) -> Status {
    for (const ObjectInfo& o : page.objects)
      if (keys.size() < limit && o.size > 0) keys.push_back(o.key);
    return {};
  }));
  if (keys.empty()) return Error(ErrorKind::kNotFound, "no non-empty objects under " + prefix);
  return keys;
}

struct Stats {
  uint64_t objects = 0;
  uint64_t bytes = 0;
  std::vector<double> latency_ms;
};

Result<Stats> run_gets(BlockingStore& store, const std::vector<std::string>& keys,
                       const BenchOptions& o) {
  Stats stats;
  stats.latency_ms.reserve(o.count);
  uint64_t issued = 0;
  int in_flight = 0;
  std::optional<Error> failed;
  std::function<void()> pump = [&] {
    while (!failed && in_flight < o.concurrency && issued < o.count) {
      GetQuery q;
      q.key = keys[issued++ % keys.size()];
      if (o.range) q.range = ByteRange{0, o.range};
      ++in_flight;
      auto started = Clock::now();
      store.async().get(std::move(q), [&, started](Result<GetReply> reply) {
        --in_flight;
        if (!reply.ok()) {
          if (!failed) failed = std::move(reply).error();
          return;
        }
        stats.latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
        ++stats.objects;
        stats.bytes += reply->data.size();
        pump();
      });
    }
  };
  pump();
  store.reactor().run_until([&] { return in_flight == 0 && (failed || issued == o.count); });
  if (failed) return *failed;
  return stats;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

int run_bench_get(const BenchOptions& o) {
  int exit_code = 0;
  auto opened = open_from_args(o.uri, o.store, exit_code);
  if (!opened) return exit_code;
  auto keys = list_keys(opened->store, opened->uri.prefix, o.count);
  if (!keys.ok()) return report_failure("bench get: listing " + opened->uri.to_string(), keys.error());
  auto started = Clock::now();
  auto stats = run_gets(opened->store, *keys, o);
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (!stats.ok()) return report_failure("bench get", stats.error());
  double p50 = percentile(stats->latency_ms, 0.50), p99 = percentile(stats->latency_ms, 0.99);
  std::printf("get: %llu objects, %llu bytes, %.3f s, %.0f objects/s, %.1f MB/s, p50 %.2f ms, p99 %.2f ms, concurrency %d\n",
              static_cast<unsigned long long>(stats->objects),
              static_cast<unsigned long long>(stats->bytes), seconds,
              static_cast<double>(stats->objects) / seconds,
              static_cast<double>(stats->bytes) / seconds / 1e6, p50, p99, o.concurrency);
  return 0;
}

}  // namespace

void register_bench(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* bench = app.add_subcommand("bench", "Measure the store client");
  bench->require_subcommand(1);
  CLI::App* get = bench->add_subcommand("get", "Concurrent GETs of the objects under a prefix");
  get->add_option("URI", o->uri, "Prefix whose objects are fetched, e.g. s3://bucket/small/")->required();
  get->add_option("--concurrency", o->concurrency, "GETs in flight")->capture_default_str()->check(CLI::Range(1, 4096));
  get->add_option("--count", o->count, "GETs in all (keys are reused round robin)")->capture_default_str();
  get->add_option("--range", o->range, "Fetch only the first N bytes of each object (0: whole)")->capture_default_str();
  add_store_options(*get, o->store);
  get->callback([o, &exit_code] { exit_code = run_bench_get(*o); });
}

}  // namespace shoal::cli

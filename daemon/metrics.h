// A small metrics registry: counters, gauges and latency histograms with fixed buckets,
// rendered in the Prometheus text exposition format (version 0.0.4) for the daemon's metrics
// endpoint and `shoal stats`.
//
// Series are created once (at engine start) and then updated lock-free: values are atomics,
// so worker threads may update while another thread renders. Asking again for a name and
// label set that exists returns the same series, which lets several workers share one.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace shoal {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Workers sharing a gauge each add their own changes, so add() is the primary operation.
class Gauge {
 public:
  void add(int64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  void set(int64_t value) { value_.store(value, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Histogram {
 public:
  // upper_bounds: strictly increasing, finite; the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> upper_bounds);

  void observe(double value);

  const std::vector<double>& upper_bounds() const { return bounds_; }
  // Observations <= upper_bounds()[i], or in total for i == upper_bounds().size().
  uint64_t cumulative_count(size_t i) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // per bucket, not cumulative; +Inf last
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds for request and GET latencies: 100 µs … 30 s, about ×2.5 apart,
// wide enough for a page-cache hit and a throttled GET after its retries.
const std::vector<double>& latency_buckets_seconds();

class Metrics {
 public:
  // Names follow Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*; counters end in _total). Reusing
  // a name with another type is a programming error and aborts with a message.
  Counter& counter(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Histogram& histogram(std::string_view name, std::string_view help,
                       const std::vector<double>& upper_bounds, const MetricLabels& labels = {});

  // Every family sorted by name, each with its HELP and TYPE lines, then its series.
  std::string render_prometheus() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    Type type;
    std::string help;
    std::map<std::string, Series> series;  // by rendered label set: `a="x",b="y"`
  };

  Series& series(std::string_view name, std::string_view help, Type type,
                 const MetricLabels& labels);
  static void render_family(std::string& out, const std::string& name, const Family& family);

  mutable std::mutex mu_;  // guards the maps, not the values
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace shoal

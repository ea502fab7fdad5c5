// The metrics registry and its Prometheus text rendering.
#include "daemon/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace shoal {
namespace {

bool contains_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST(MetricsTest, CounterAndGaugeRenderWithHelpAndType) {
  Metrics m;
  m.counter("shoal_engine_requests_total", "Block read requests").inc(3);
  Gauge& g = m.gauge("shoal_engine_gets_in_flight", "GETs in flight");
  g.add(5);
  g.add(-2);
  std::string text = m.render_prometheus();
  EXPECT_TRUE(contains_line(text, "# HELP shoal_engine_requests_total Block read requests")) << text;
  EXPECT_TRUE(contains_line(text, "# TYPE shoal_engine_requests_total counter")) << text;
  EXPECT_TRUE(contains_line(text, "shoal_engine_requests_total 3")) << text;
  EXPECT_TRUE(contains_line(text, "# TYPE shoal_engine_gets_in_flight gauge")) << text;
  EXPECT_TRUE(contains_line(text, "shoal_engine_gets_in_flight 3")) << text;
  // Families come out sorted by name, each HELP right before its TYPE.
  EXPECT_LT(text.find("shoal_engine_gets_in_flight"), text.find("shoal_engine_requests_total"));
}

TEST(MetricsTest, SameNameAndLabelsGiveTheSameSeries) {
  Metrics m;
  Counter& a = m.counter("x_total", "help");
  Counter& b = m.counter("x_total", "help");
  EXPECT_EQ(&a, &b);
  Counter& other = m.counter("x_total", "help", {{"worker", "1"}});
  EXPECT_NE(&a, &other);
  a.inc();
  b.inc();
  other.inc(7);
  std::string text = m.render_prometheus();
  EXPECT_TRUE(contains_line(text, "x_total 2")) << text;
  EXPECT_TRUE(contains_line(text, "x_total{worker=\"1\"} 7")) << text;
  // One HELP/TYPE pair per family, however many series it has.
  EXPECT_EQ(text.find("# TYPE x_total"), text.rfind("# TYPE x_total"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Metrics m;
  Histogram& h = m.histogram("lat_seconds", "Latency", {0.01, 0.1, 1});
  h.observe(0.005);
  h.observe(0.01);  // on a bound: counts in that bucket (le means <=)
  h.observe(0.05);
  h.observe(5);
  std::string text = m.render_prometheus();
  EXPECT_TRUE(contains_line(text, "# TYPE lat_seconds histogram")) << text;
  EXPECT_TRUE(contains_line(text, "lat_seconds_bucket{le=\"0.01\"} 2")) << text;
  EXPECT_TRUE(contains_line(text, "lat_seconds_bucket{le=\"0.1\"} 3")) << text;
  EXPECT_TRUE(contains_line(text, "lat_seconds_bucket{le=\"1\"} 3")) << text;
  EXPECT_TRUE(contains_line(text, "lat_seconds_bucket{le=\"+Inf\"} 4")) << text;
  EXPECT_TRUE(contains_line(text, "lat_seconds_sum 5.065")) << text;
  EXPECT_TRUE(contains_line(text, "lat_seconds_count 4")) << text;
  EXPECT_EQ(h.count(), 4u);
}

TEST(MetricsTest, LabelledHistogramPutsLeAfterItsLabels) {
  Metrics m;
  m.histogram("get_seconds", "GET latency", {1}, {{"store", "s3"}}).observe(0.5);
  std::string text = m.render_prometheus();
  EXPECT_TRUE(contains_line(text, "get_seconds_bucket{store=\"s3\",le=\"1\"} 1")) << text;
  EXPECT_TRUE(contains_line(text, "get_seconds_sum{store=\"s3\"} 0.5")) << text;
  EXPECT_TRUE(contains_line(text, "get_seconds_count{store=\"s3\"} 1")) << text;
}

TEST(MetricsTest, HelpAndLabelValuesAreEscaped) {
  Metrics m;
  m.gauge("g", "line one\nback\\slash", {{"path", "a\"b\\c\nd"}}).set(1);
  std::string text = m.render_prometheus();
  EXPECT_TRUE(contains_line(text, "# HELP g line one\\nback\\\\slash")) << text;
  EXPECT_TRUE(contains_line(text, "g{path=\"a\\\"b\\\\c\\nd\"} 1")) << text;
}

TEST(MetricsTest, LatencyBucketsAreIncreasing) {
  const std::vector<double>& b = latency_buckets_seconds();
  ASSERT_FALSE(b.empty());
  for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]);
}

TEST(MetricsTest, ConcurrentUpdatesAllCount) {
  Metrics m;
  Counter& c = m.counter("c_total", "c");
  Histogram& h = m.histogram("h", "h", latency_buckets_seconds());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.001);
      }
    });
  std::string during = m.render_prometheus();  // rendering while others write is allowed
  for (auto& t : threads) t.join();
  EXPECT_FALSE(during.empty());
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_TRUE(contains_line(m.render_prometheus(), "h_count 40000"));
}

TEST(MetricsTest, ReusingANameWithAnotherTypeAborts) {
  EXPECT_DEATH(
      {
        Metrics m;
        m.counter("dup", "a");
        m.gauge("dup", "b");
      },
      "dup registered as a counter and again as a gauge");
}

}  // namespace
}  // namespace shoal

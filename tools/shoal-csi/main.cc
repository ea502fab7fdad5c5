// shoal-csi: the Kubernetes CSI node plugin. This main() only parses flags; the plugin is csi/.
#include <CLI/CLI.hpp>

#include "common/log.h"
#include "csi/server.h"

int main(int argc, char** argv) {
  CLI::App app{
      "shoal-csi: the CSI node plugin serving shoal volumes to Kubernetes pods (docs/kubernetes.md)"};
  app.set_version_flag("--version", "shoal-csi 0.1.0");
  shoal::csi::PluginOptions options;
  app.add_option("--endpoint", options.endpoint,
                 "the CSI socket kubelet's registrar points at, e.g. unix:///csi/csi.sock")
      ->envname("CSI_ENDPOINT")
      ->required();
  app.add_option("--node-id", options.node.node_id, "this node's name (spec.nodeName)")
      ->envname("KUBE_NODE_NAME")
      ->required();
  app.add_option("--state-dir", options.node.state_dir,
                 "volume records, indexes and per-volume configs; keep it on the host so a "
                 "restarted plugin finds them")
      ->capture_default_str();
  app.add_option("--driver-name", options.driver_name, "the CSIDriver name")->capture_default_str();
  app.add_option("--shoald", options.node.shoald,
                 "the daemon binary (default: beside shoal-csi, else from PATH)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  shoal::Status status = shoal::csi::run_plugin(options);
  if (!status.ok()) {
    shoal::log_error(status.error().describe());
    return status.error().kind == shoal::ErrorKind::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

#include "csi/server.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <filesystem>
#include <memory>

#include "common/log.h"
#include "common/socket.h"
#include "csi.grpc.pb.h"

namespace shoal::csi {
namespace {

grpc::StatusCode code_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorKind::kNotFound: return grpc::StatusCode::NOT_FOUND;
    case ErrorKind::kAccessDenied: return grpc::StatusCode::PERMISSION_DENIED;
    case ErrorKind::kPreconditionFailed: return grpc::StatusCode::FAILED_PRECONDITION;
    case ErrorKind::kThrottled:
    case ErrorKind::kNetwork:
    case ErrorKind::kTimeout: return grpc::StatusCode::UNAVAILABLE;
    case ErrorKind::kNoSpace: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ErrorKind::kUnsupported: return grpc::StatusCode::UNIMPLEMENTED;
    case ErrorKind::kCancelled: return grpc::StatusCode::CANCELLED;
    default: return grpc::StatusCode::INTERNAL;
  }
}

// Logs the outcome of one call and turns it into the gRPC status.
grpc::Status reply(std::string_view call, const Error* error) {
  if (error == nullptr) {
    log_info(std::string(call) + ": ok");
    return grpc::Status::OK;
  }
  std::string text = error->describe();
  log_warning(std::string(call) + ": " + text);
  return grpc::Status(code_of(error->kind), text);
}

grpc::Status reply(std::string_view call, const Status& status) {
  return reply(call, status.ok() ? nullptr : &status.error());
}

StringMap to_map(const google::protobuf::Map<std::string, std::string>& in) {
  return StringMap(in.begin(), in.end());
}

Capability capability_of(bool present, const ::csi::v1::VolumeCapability& c) {
  Capability out;
  out.present = present;
  out.block = c.has_block();
  out.mode_set = c.has_access_mode();
  out.access_mode = static_cast<int>(c.access_mode().mode());
  return out;
}

class IdentityService final : public ::csi::v1::Identity::Service {
 public:
  explicit IdentityService(std::string name) : name_(std::move(name)) {}

  grpc::Status GetPluginInfo(grpc::ServerContext*, const ::csi::v1::GetPluginInfoRequest*,
                             ::csi::v1::GetPluginInfoResponse* out) override {
    out->set_name(name_);
    out->set_vendor_version(SHOAL_VERSION);
    return grpc::Status::OK;
  }
  // No CONTROLLER_SERVICE: volumes are static PVs (docs/kubernetes.md).
  grpc::Status GetPluginCapabilities(grpc::ServerContext*,
                                     const ::csi::v1::GetPluginCapabilitiesRequest*,
                                     ::csi::v1::GetPluginCapabilitiesResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status Probe(grpc::ServerContext*, const ::csi::v1::ProbeRequest*,
                     ::csi::v1::ProbeResponse* out) override {
    out->mutable_ready()->set_value(true);
    return grpc::Status::OK;
  }

 private:
  std::string name_;
};

class NodeService final : public ::csi::v1::Node::Service {
 public:
  explicit NodeService(NodePlugin& plugin) : plugin_(plugin) {}

  grpc::Status NodeStageVolume(grpc::ServerContext*, const ::csi::v1::NodeStageVolumeRequest* in,
                               ::csi::v1::NodeStageVolumeResponse*) override {
    StageCall call{in->volume_id(), in->staging_target_path(),
                   capability_of(in->has_volume_capability(), in->volume_capability()),
                   to_map(in->volume_context()), to_map(in->secrets())};
    return reply("NodeStageVolume " + in->volume_id() + " at " + in->staging_target_path(),
                 plugin_.stage(call));
  }
  grpc::Status NodeUnstageVolume(grpc::ServerContext*,
                                 const ::csi::v1::NodeUnstageVolumeRequest* in,
                                 ::csi::v1::NodeUnstageVolumeResponse*) override {
    return reply("NodeUnstageVolume " + in->volume_id() + " at " + in->staging_target_path(),
                 plugin_.unstage(in->volume_id(), in->staging_target_path()));
  }
  grpc::Status NodePublishVolume(grpc::ServerContext*,
                                 const ::csi::v1::NodePublishVolumeRequest* in,
                                 ::csi::v1::NodePublishVolumeResponse*) override {
    PublishCall call{in->volume_id(),
                     in->staging_target_path(),
                     in->target_path(),
                     capability_of(in->has_volume_capability(), in->volume_capability()),
                     in->readonly(),
                     to_map(in->volume_context()),
                     to_map(in->secrets())};
    return reply("NodePublishVolume " + in->volume_id() + " at " + in->target_path(),
                 plugin_.publish(call));
  }
  grpc::Status NodeUnpublishVolume(grpc::ServerContext*,
                                   const ::csi::v1::NodeUnpublishVolumeRequest* in,
                                   ::csi::v1::NodeUnpublishVolumeResponse*) override {
    return reply("NodeUnpublishVolume " + in->volume_id() + " at " + in->target_path(),
                 plugin_.unpublish(in->volume_id(), in->target_path()));
  }
  grpc::Status NodeGetVolumeStats(grpc::ServerContext*,
                                  const ::csi::v1::NodeGetVolumeStatsRequest* in,
                                  ::csi::v1::NodeGetVolumeStatsResponse* out) override {
    auto usage = plugin_.usage(in->volume_id(), in->volume_path());
    if (!usage.ok())
      return reply("NodeGetVolumeStats " + in->volume_id() + " at " + in->volume_path(),
                   &usage.error());
    auto add = [out](::csi::v1::VolumeUsage::Unit unit, int64_t total, int64_t used,
                     int64_t available) {
      ::csi::v1::VolumeUsage* u = out->add_usage();
      u->set_unit(unit);
      u->set_total(total);
      u->set_used(used);
      u->set_available(available);
    };
    add(::csi::v1::VolumeUsage::BYTES, usage->bytes_total, usage->bytes_used,
        usage->bytes_available);
    add(::csi::v1::VolumeUsage::INODES, usage->inodes_total, usage->inodes_used,
        usage->inodes_available);
    return grpc::Status::OK;
  }
  grpc::Status NodeGetCapabilities(grpc::ServerContext*,
                                   const ::csi::v1::NodeGetCapabilitiesRequest*,
                                   ::csi::v1::NodeGetCapabilitiesResponse* out) override {
    for (auto type : {::csi::v1::NodeServiceCapability::RPC::STAGE_UNSTAGE_VOLUME,
                      ::csi::v1::NodeServiceCapability::RPC::GET_VOLUME_STATS})
      out->add_capabilities()->mutable_rpc()->set_type(type);
    return grpc::Status::OK;
  }
  grpc::Status NodeGetInfo(grpc::ServerContext*, const ::csi::v1::NodeGetInfoRequest*,
                           ::csi::v1::NodeGetInfoResponse* out) override {
    out->set_node_id(plugin_.options().node_id);
    return grpc::Status::OK;
  }

 private:
  NodePlugin& plugin_;
};

}  // namespace

Result<std::string> unix_socket_path(const std::string& endpoint) {
  std::string path = endpoint;
  if (path.starts_with("unix://"))
    path.erase(0, 7);
  else if (path.starts_with("unix:"))
    path.erase(0, 5);
  if (!path.starts_with('/'))
    return Error(ErrorKind::kInvalidArgument,
                 "--endpoint '" + endpoint +
                     "': CSI endpoints are Unix sockets, such as unix:///csi/csi.sock");
  return path;
}

Status run_plugin(const PluginOptions& options) {
  if (options.node.node_id.empty())
    return Error(ErrorKind::kInvalidArgument, "--node-id is missing: pass the node's name");
  SHOAL_ASSIGN(std::string socket, unix_socket_path(options.endpoint));
  // Blocked before any thread starts, so every gRPC thread inherits the mask and the signals
  // wait for sigwait below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  NodePlugin plugin(options.node);
  SHOAL_TRY(plugin.start());
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(socket).parent_path(), ec);
  SHOAL_TRY(clear_stale_unix_socket(socket, "the CSI endpoint"));

  IdentityService identity(options.driver_name);
  NodeService node(plugin);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("unix:" + socket, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&identity);
  builder.RegisterService(&node);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server)
    return Error(ErrorKind::kIo, "cannot listen on " + socket +
                                     ": is another shoal-csi running, or the directory missing?");
  log_info(options.driver_name + " node " + options.node.node_id + " serving CSI on " + socket +
           " (state in " + options.node.state_dir + ")");
  int signal = 0;
  sigwait(&stop, &signal);
  log_info(std::string("stopping on ") + (signal == SIGTERM ? "SIGTERM" : "SIGINT") +
           ": volumes stay mounted");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  server->Wait();
  std::filesystem::remove(socket, ec);
  return {};
}

}  // namespace shoal::csi

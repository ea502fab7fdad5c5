#include "writer/upload_task.h"

#include <memory>
#include <utility>

namespace shoal {
namespace {

// The engine's journal hooks as MultipartStarted / PartUploaded records of one upload.
class UploadJournal final : public MultipartJournal {
 public:
  UploadJournal(JournalLink& link, uint64_t upload_id) : link_(link), upload_id_(upload_id) {}

  void started(const std::string& multipart_id, uint64_t part_size,
               std::function<void(Status)> durable) override {
    link_.record(MultipartStarted{upload_id_, multipart_id, part_size}, std::move(durable));
  }
  void part_uploaded(const PartInfo& part) override {
    link_.record(PartUploaded{upload_id_, static_cast<uint32_t>(part.number), part.etag,
                              part.crc64.value_or(0), part.size},
                 nullptr);
  }

 private:
  JournalLink& link_;
  uint64_t upload_id_;
};

}  // namespace

void JournalLink::record(const JournalRecord& record, std::function<void(Status)> on_durable) {
  Status appended = journal_.append(record);
  if (!appended.ok()) {
    if (on_durable) on_durable(std::move(appended).error());
    return;
  }
  committer_.request([on_durable = std::move(on_durable)](Status s) {
    if (on_durable) on_durable(std::move(s));
  });
}

void run_upload(ObjectStore& store, BlockingPool& workers, JournalLink& journal,
                const UploadOptions& options, const UploadState& state, Done<PutReply> done) {
  auto hooks = std::make_shared<UploadJournal>(journal, state.taken.upload_id);
  FileUpload file{.path = state.taken.spool_path,
                  .size = state.taken.size,
                  .key = state.taken.key,
                  .journal = hooks.get()};
  if (state.multipart) {
    MultipartResume resume{state.multipart->multipart_id, state.multipart->part_size, {}};
    for (const auto& [number, part] : state.parts)
      resume.parts[static_cast<int>(number)] =
          PartInfo{static_cast<int>(number), part.etag, part.size, part.crc64};
    file.resume = std::move(resume);
  }
  // The hooks live until the engine reports the outcome, after its last call into them.
  upload(store, workers, std::move(file), options,
         [hooks, done = std::move(done)](Result<PutReply> reply) { done(std::move(reply)); });
}

}  // namespace shoal

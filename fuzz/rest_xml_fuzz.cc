// The S3 / OSS answer parsers (store/rest/rest_xml.h, store/rest/service_error.h): bodies an
// object store, or anything pretending to be one, sends back. The first byte picks the parser.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "store/http_request.h"
#include "store/rest/rest_xml.h"
#include "store/rest/service_error.h"

using namespace shoal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t which = data[0];
  std::string_view xml(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (which % 7) {
    case 0: {
      auto page = parse_list_objects_v2(xml);
      if (!page.ok()) FUZZ_CHECK(page.error().kind == ErrorKind::kServer);
      break;
    }
    case 1: {
      auto id = parse_initiate_multipart(xml);
      if (!id.ok()) FUZZ_CHECK(id.error().kind == ErrorKind::kServer);
      break;
    }
    case 2: {
      auto etag = parse_complete_multipart(xml);
      if (!etag.ok()) FUZZ_CHECK(!etag.error().message.empty());
      break;
    }
    case 3: {
      auto parts = parse_list_parts(xml);
      if (parts.ok()) {
        // The parts re-encode into a request body.
        std::string body = complete_multipart_xml(parts->parts);
        FUZZ_CHECK(!body.empty());
      } else {
        FUZZ_CHECK(parts.error().kind == ErrorKind::kServer);
      }
      break;
    }
    case 4:
      (void)parse_error_body(xml);
      break;
    case 5: {
      (void)parse_iso8601_ns(xml);
      std::string unquoted = unquote_etag(xml);
      FUZZ_CHECK(unquoted.size() <= xml.size());
      break;
    }
    case 6: {
      HttpResponse response;
      response.status = 400 + which % 200;
      response.body = std::string(xml);
      response.headers.emplace_back("x-amz-request-id", "fuzz");
      Error e = service_error(response, "GetObject fuzz", "x-amz-request-id");
      FUZZ_CHECK(e.http_status == response.status);
      (void)e.describe();
      break;
    }
  }
  return 0;
}

#include "store/credentials/http_fetch.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "store/url_encode.h"

namespace shoal {
namespace {

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  // A credentials answer is a few KB; a service sending megabytes is not one.
  if (out->size() + size * count > (1u << 20)) return 0;
  out->append(data, size * count);
  return size * count;
}

struct EasyFree {
  void operator()(CURL* e) const { curl_easy_cleanup(e); }
};
struct ListFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (!out.empty()) out += '&';
    out += uri_encode(key, true) + '=' + uri_encode(value, true);
  }
  return out;
}

Result<FetchResponse> fetch_blocking(const FetchRequest& request) {
  static std::once_flag once;
  static CURLcode init = CURLE_OK;
  std::call_once(once, [] { init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init != CURLE_OK) return Error(ErrorKind::kInternal, "libcurl could not be initialised");
  std::unique_ptr<CURL, EasyFree> easy(curl_easy_init());
  if (!easy) return Error(ErrorKind::kInternal, "libcurl could not create a handle");
  CURL* e = easy.get();
  FetchResponse response;
  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, request.verify_tls ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, request.verify_tls ? 2L : 0L);
  if (!request.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, request.ca_file.c_str());
  // Metadata services must be reached directly: a proxy from the environment would answer
  // for some other machine, or leak the request.
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  if (request.method == "POST" || request.method == "PUT") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  std::unique_ptr<curl_slist, ListFree> headers;
  curl_slist* list = curl_slist_append(nullptr, "Expect:");
  for (const auto& [name, value] : request.headers)
    list = curl_slist_append(list, (name + ": " + value).c_str());
  headers.reset(list);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(e);
  if (rc != CURLE_OK) {
    ErrorKind kind = rc == CURLE_OPERATION_TIMEDOUT ? ErrorKind::kTimeout : ErrorKind::kNetwork;
    return Error(kind, request.method + " " + request.url + ": " + curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

}  // namespace shoal

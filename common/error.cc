#include "common/error.h"

#include <cerrno>
#include <cstring>

namespace shoal {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid argument";
    case ErrorKind::kNotFound: return "not found";
    case ErrorKind::kAccessDenied: return "access denied";
    case ErrorKind::kPreconditionFailed: return "precondition failed";
    case ErrorKind::kRangeNotSatisfiable: return "range not satisfiable";
    case ErrorKind::kThrottled: return "throttled";
    case ErrorKind::kNetwork: return "network error";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kServer: return "server error";
    case ErrorKind::kIntegrity: return "integrity error";
    case ErrorKind::kCorrupt: return "corrupt";
    case ErrorKind::kIo: return "I/O error";
    case ErrorKind::kNoSpace: return "no space";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kCancelled: return "cancelled";
    case ErrorKind::kInternal: return "internal error";
  }
  return "unknown error";
}

std::string Error::describe() const {
  std::string out(to_string(kind));
  if (!message.empty()) out += ": " + message;
  if (!code.empty() || http_status != 0 || !request_id.empty()) {
    out += " (";
    bool first = true;
    auto add = [&](const std::string& s) { out += (first ? "" : ", ") + s; first = false; };
    if (!code.empty()) add(code);
    if (http_status != 0) add("HTTP " + std::to_string(http_status));
    if (!request_id.empty()) add("request " + request_id);
    out += ")";
  }
  return out;
}

Error Error::with_context(std::string_view context) const {
  Error e = *this;
  e.message = std::string(context) + (message.empty() ? "" : ": " + message);
  return e;
}

Error errno_error(std::string_view what, int err) {
  ErrorKind kind = ErrorKind::kIo;
  if (err == ENOENT) kind = ErrorKind::kNotFound;
  else if (err == EACCES || err == EPERM) kind = ErrorKind::kAccessDenied;
  else if (err == ENOSPC || err == EDQUOT) kind = ErrorKind::kNoSpace;
  else if (err == EINVAL) kind = ErrorKind::kInvalidArgument;
  return Error(kind, std::string(what) + ": " + std::strerror(err));
}

}  // namespace shoal

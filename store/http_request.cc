#include "store/http_request.h"

#include <algorithm>
#include <cctype>

namespace shoal {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

const std::string* find_header(const HeaderList& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return &value;
  }
  return nullptr;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
  return find_header(headers, name);
}

void HttpRequest::set_header(std::string name, std::string value) {
  auto same_name = [&](const auto& h) { return iequals(h.first, name); };
  auto first = std::find_if(headers.begin(), headers.end(), same_name);
  if (first == headers.end()) {
    headers.emplace_back(std::move(name), std::move(value));
    return;
  }
  headers.erase(std::remove_if(first + 1, headers.end(), same_name), headers.end());
  *first = {std::move(name), std::move(value)};
}

const std::string* HttpResponse::header(std::string_view lower_name) const {
  return find_header(headers, lower_name);
}

}  // namespace shoal

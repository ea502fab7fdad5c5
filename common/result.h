// Errors as values: every fallible operation on the data path returns Result<T>.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include "common/error.h"

namespace shoal {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}              // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}          // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { assert(!ok()); return std::get<1>(v_); }
  Error&& error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { assert(!ok_); return error_; }
  Error&& error() && { assert(!ok_); return std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace shoal

// Propagates an error out of the enclosing function returning Result<U>.
#define SHOAL_TRY(expr)                                   \
  do {                                                    \
    auto&& shoal_try_r_ = (expr);                         \
    if (!shoal_try_r_.ok()) return std::move(shoal_try_r_).error(); \
  } while (0)

#define SHOAL_CONCAT_INNER(a, b) a##b
#define SHOAL_CONCAT(a, b) SHOAL_CONCAT_INNER(a, b)
// SHOAL_ASSIGN(auto x, f()): binds the value or returns the error.
#define SHOAL_ASSIGN(decl, expr) SHOAL_ASSIGN_IMPL(SHOAL_CONCAT(shoal_r_, __LINE__), decl, expr)
#define SHOAL_ASSIGN_IMPL(tmp, decl, expr)              \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return std::move(tmp).error();         \
  decl = std::move(tmp).value()

// doctest checks on server frames, shared by the integration tests.
#pragma once

#include <doctest/doctest.h>

#include "harness.hpp"

namespace sc::itest {

inline void check_ok(const OwnedFrame& f, Type type) {
  INFO(f.describe(), " text: ", f.status() == Status::Ok ? "" : f.text());
  CHECK(f.kind() == Kind::Response);
  CHECK(f.type() == type);
  CHECK(f.status() == Status::Ok);
}

// A non-OK response carries a readable text (NOT_DELIVERED: id, then text).
inline void check_error(const OwnedFrame& f, Type type, Status status) {
  INFO(f.describe(), " text: ", f.text());
  CHECK(f.kind() == Kind::Response);
  CHECK(f.type() == type);
  CHECK(f.status() == status);
  if (status == Status::NotDelivered) {
    as_not_delivered(f);
  } else {
    CHECK(!f.payload.empty());
    CHECK(valid_utf8(f.text()));
  }
}

// An ERROR indication with this code and a readable text.
inline void check_error_indication(const OwnedFrame& f, Status status) {
  INFO(f.describe(), " text: ", f.text());
  CHECK(f.kind() == Kind::Indication);
  CHECK(f.type() == Type::Error);
  CHECK(f.status() == status);
  CHECK(f.id() == 0);
  CHECK(valid_utf8(f.text()));
}

}  // namespace sc::itest

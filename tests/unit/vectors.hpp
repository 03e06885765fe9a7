// The protocol vectors (tests/data/protocol-vectors.json) as C++ data; the
// table itself is generated at build time into vectors.inc.
#pragma once

#include <cstdint>
#include <vector>

namespace sc::test {

struct VectorEntry {
  std::uint32_t id;
  std::uint8_t family;
  const char* ip;
  std::uint16_t port;
  std::int64_t connected_at_us;
  const char* nick;
};

// One scalar payload field: a number, or a string when str is non-null.
struct VectorField {
  const char* key;
  std::int64_t num;
  const char* str;
};

struct Vector {
  const char* name;
  std::vector<std::uint8_t> bytes;
  std::uint8_t kind, type, status;
  std::uint32_t id, length;
  std::vector<VectorField> fields;
  std::vector<VectorEntry> entries;  // LIST "entries" or PRESENCE "entry"
  bool has_entry_list;               // true: "entries" (LIST)
};

#include "vectors.inc"

}  // namespace sc::test

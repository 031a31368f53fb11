#pragma once

// What the data tests ask of an error: the message a call throws, and whether it names a part.

#include <exception>
#include <string>

/// The what() of the exception `f` throws, or "(nothing thrown)".
template <class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(nothing thrown)";
}

/// True if `text` holds `part`.
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

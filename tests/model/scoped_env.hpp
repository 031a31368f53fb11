#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

// Sets an environment variable for the lifetime of the object, restoring the old value after.
class scoped_env {
public:
  /// Sets `name` to `value`, or unsets it for std::nullopt.
  scoped_env(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name))
      old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  /// Restores the value before, or unsets the variable if it had none.
  ~scoped_env() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

private:
  const char* name_;
  std::optional<std::string> old_;
};

// Makes `dir` the working directory for the lifetime of the object, then goes back.
class scoped_working_directory {
public:
  /// Changes to `dir`.
  explicit scoped_working_directory(const std::filesystem::path& dir)
      : old_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  /// Changes back; never throws.
  ~scoped_working_directory() {
    std::error_code ec;
    std::filesystem::current_path(old_, ec);
  }
  scoped_working_directory(const scoped_working_directory&) = delete;
  scoped_working_directory& operator=(const scoped_working_directory&) = delete;

private:
  std::filesystem::path old_;
};

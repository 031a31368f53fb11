#include "config/launch/host_file.hpp"

#include "base/trim.hpp"
#include "config/run_config.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace dsq {

namespace {

/// A name or address: no blanks, no quotes, no shell characters (it is put in command lines).
bool plain_word(const std::string& word) {
  if (word.empty())
    return false;
  for (char c : word) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == ':' || c == '@' || c == '[' ||
                    c == ']' || c == '%';
    if (!ok)
      return false;
  }
  return true;
}

} // namespace

std::vector<launch_host> parse_host_file(const std::string& text, const std::string& origin) {
  std::vector<launch_host> hosts;
  std::istringstream in{text};
  std::string raw;
  for (int number = 1; std::getline(in, raw); ++number) {
    const auto where = origin + ":" + std::to_string(number) + ": ";
    if (auto hash = raw.find('#'); hash != std::string::npos)
      raw.resize(hash);
    std::istringstream words{std::string{trim(raw)}};
    std::string word;
    if (!(words >> word))
      continue; // blank or comment
    launch_host host;
    host.line = number;
    if (!plain_word(word) || word.find('=') != std::string::npos)
      throw config_error(where + "'" + word +
                         "' is not a host name (expected: NAME [slots=N] [address=ADDR])");
    host.name = word;
    bool slots_given = false, address_given = false;
    while (words >> word) {
      const auto eq = word.find('=');
      const auto key = word.substr(0, eq);
      const auto value = eq == std::string::npos ? std::string{} : word.substr(eq + 1);
      if (eq == std::string::npos || value.empty())
        throw config_error(where + "'" + word + "': expected key=value (slots=N or address=ADDR)");
      if (key == "slots" || key == "max_slots") {
        if (slots_given)
          throw config_error(where + "slots given twice");
        int n = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc{} || end != value.data() + value.size() || n < 1 || n > max_host_slots)
          throw config_error(where + "slots=" + value + ": expected a number from 1 to " +
                             std::to_string(max_host_slots));
        host.slots = n;
        slots_given = true;
      } else if (key == "address") {
        if (address_given)
          throw config_error(where + "address given twice");
        if (!plain_word(value))
          throw config_error(where + "address=" + value + ": not a host name or IP address");
        host.address = value;
        address_given = true;
      } else {
        throw config_error(where + "unknown key '" + key +
                           "' (a host line is NAME [slots=N] [address=ADDR])");
      }
    }
    for (const auto& earlier : hosts)
      if (earlier.name == host.name)
        throw config_error(where + "host " + host.name + " is already on line " +
                           std::to_string(earlier.line) + " (give it one line with slots=N)");
    if (host.address.empty())
      host.address = host.name == "localhost" ? "127.0.0.1" : host.name;
    hosts.push_back(std::move(host));
  }
  if (hosts.empty())
    throw config_error(origin + ": no hosts (one per line: NAME [slots=N] [address=ADDR])");
  return hosts;
}

std::vector<launch_host> read_host_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw config_error("--hostfile=" + path + ": no such file");
  std::ifstream file{path};
  if (!file)
    throw config_error("--hostfile=" + path + ": cannot be read");
  std::stringstream text;
  text << file.rdbuf();
  return parse_host_file(text.str(), path);
}

} // namespace dsq

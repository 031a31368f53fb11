#include "config/launch/launch_command.hpp"

#include "config/run_config.hpp"

#include <charconv>

namespace dsq {

namespace {

bool needs_no_quotes(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '@' || c == '%' || c == '+' || c == '=' || c == ':' || c == ',' || c == '.' ||
         c == '/' || c == '-';
}

/// `text` with every "{host}" replaced by `host`.
std::string with_host(std::string text, const std::string& host) {
  const std::string key = "{host}";
  for (auto at = text.find(key); at != std::string::npos; at = text.find(key, at + host.size()))
    text.replace(at, key.size(), host);
  return text;
}

} // namespace

std::string shell_quote(const std::string& word) {
  bool plain = !word.empty();
  for (char c : word)
    plain = plain && needs_no_quotes(c);
  if (plain)
    return word;
  std::string quoted = "'";
  for (char c : word)
    quoted += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return quoted + "'";
}

std::string shell_command_line(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& w : words)
    line += (line.empty() ? "" : " ") + shell_quote(w);
  return line;
}

std::vector<std::string> split_launch_template(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (c == quote)
        quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < text.size())
        word += text[++i];
      else
        word += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < text.size()) {
      word += text[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word)
        words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0)
    throw config_error("--launch-command=" + text + ": unbalanced " + std::string(1, quote));
  if (in_word)
    words.push_back(std::move(word));
  if (words.empty())
    throw config_error("--launch-command is empty (default: ssh {host})");
  bool has_host = false;
  for (const auto& w : words)
    has_host = has_host || w.find("{host}") != std::string::npos;
  if (!has_host)
    throw config_error("--launch-command=" + text +
                       ": names no {host} (e.g. 'ssh {host}', 'ip netns exec {host}')");
  return words;
}

std::vector<std::string> remote_argv(const std::vector<std::string>& template_words,
                                     const std::string& host,
                                     const std::vector<std::string>& command) {
  std::vector<std::string> argv;
  bool placed = false;
  for (const auto& w : template_words) {
    if (w == "{command}") {
      argv.push_back(shell_command_line(command));
      placed = true;
    } else {
      argv.push_back(with_host(w, host));
    }
  }
  if (!placed)
    for (const auto& w : command)
      argv.push_back(shell_quote(w));
  return argv;
}

std::optional<std::uint16_t> listening_port(const std::string& line) {
  const std::string head = "dsq server: listening on ";
  const auto at = line.find(head);
  if (at == std::string::npos)
    return std::nullopt;
  const auto comma = line.find(',', at);
  const auto colon = line.rfind(':', comma);
  if (comma == std::string::npos || colon == std::string::npos || colon < at + head.size())
    return std::nullopt;
  unsigned port = 0;
  const char* first = line.data() + colon + 1;
  const char* last = line.data() + comma;
  auto [end, ec] = std::from_chars(first, last, port);
  if (ec != std::errc{} || end != last || port == 0 || port > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

} // namespace dsq

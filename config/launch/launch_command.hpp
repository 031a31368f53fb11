#pragma once

// How `dsq launch` starts a process on another host: the launch command's template (default
// `ssh {host}`) with {host} replaced, then the dsq binary and its arguments, each quoted for a
// shell when it needs it (ssh hands them to the remote shell). A word `{command}` in the
// template takes the whole quoted command line as one argument instead (for `sh -c
// {command}`). Also what the launcher reads from the server's output.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dsq {

/// `word` as a POSIX shell reads it back: unchanged when it holds only letters, digits and
/// `_@%+=:,./-`, else in single quotes (a quote inside as '\'').
std::string shell_quote(const std::string& word);

/// `words` quoted and joined with blanks: one shell command line.
std::string shell_command_line(const std::vector<std::string>& words);

/// The words of a launch command template, split at blanks; '...' and "..." group, a
/// backslash escapes the next character. Throws config_error on an empty template, an
/// unbalanced quote and a template without {host}.
std::vector<std::string> split_launch_template(const std::string& text);

/// The argv that starts `command` (the dsq binary and its arguments) through `template_words`
/// on `host`.
std::vector<std::string> remote_argv(const std::vector<std::string>& template_words,
                                     const std::string& host,
                                     const std::vector<std::string>& command);

/// The port of `dsq server: listening on ADDR:PORT, ...`, or nullopt for any other line.
std::optional<std::uint16_t> listening_port(const std::string& line);

} // namespace dsq

#pragma once
// Reading the small text files of /proc and /proc/sys with plain read(2):
// no iostreams, and a missing file or a full descriptor table (EMFILE) is
// just "absent", never an exception.
#include <optional>
#include <string>

namespace sockdrill::kernel {

/// The whole file, or nullopt when it cannot be opened or read.
std::optional<std::string> read_proc_file(const std::string& path);

}  // namespace sockdrill::kernel

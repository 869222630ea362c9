// App: the process's life. Loads the configuration, keys and state, wires the parts,
// serves until SIGTERM/SIGINT (then drains and flushes), reloads keys on SIGHUP.
#pragma once

#include <map>
#include <string>

#include "keypool/key_file.h"

namespace gkm {

// The key file's proxy= pins: key id -> proxy URL as written (for Egress::SetKeyProxies).
std::map<std::string, std::string> ProxyPins(const KeyFile& file);

// Returns the process exit code: 0 after a clean stop or --help/--version, 2 on a bad
// configuration, 1 when the environment refuses (key file, state dir, port).
int RunApp(int argc, char** argv);

}  // namespace gkm

// Compiles Boost.JSON into the program (it ships header-only sources), so the build
// needs no separately packaged Boost library.
#include <boost/json/src.hpp>

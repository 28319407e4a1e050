// Symbols that Jazzer.js's prebuilt addon (built with glibc 2.38 / GCC 13) expects and an
// older system lacks; see patch-addon.js. Loaded with LD_PRELOAD by run.sh when needed.
#include <cstdlib>
#include <ios>

// glibc 2.38 redirects strtol & co. to C23 variants that also accept "0b" prefixes; the
// addon only parses libFuzzer's decimal flags with them.
extern "C" long __isoc23_strtol(const char *s, char **end, int base) { return std::strtol(s, end, base); }
extern "C" unsigned long __isoc23_strtoul(const char *s, char **end, int base) { return std::strtoul(s, end, base); }
extern "C" long long __isoc23_strtoll(const char *s, char **end, int base) { return std::strtoll(s, end, base); }
extern "C" unsigned long long __isoc23_strtoull(const char *s, char **end, int base) { return std::strtoull(s, end, base); }

// GCC 13's <iostream> references this to make sure the standard streams are initialised;
// with GCC 12's libstdc++ a static ios_base::Init does the same.
namespace std {
void ios_base_library_init() { static ios_base::Init init; }
}

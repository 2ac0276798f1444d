// What the kernel says about a process: resident memory and CPU time (Linux /proc).
#pragma once

#include <cstdint>
#include <optional>

namespace parley::bench {

// VmRSS from /proc/PID/status, in bytes. nullopt when the process is gone or unreadable.
std::optional<std::int64_t> residentBytes(int pid);
// utime + stime from /proc/PID/stat, in seconds.
std::optional<double> cpuSeconds(int pid);
// The same for this process (getrusage), and its own resident memory.
double selfCpuSeconds();
std::int64_t selfResidentBytes();
// Raises the open-file limit to the hard limit; returns the new soft limit.
std::uint64_t raiseOpenFileLimit();

}  // namespace parley::bench

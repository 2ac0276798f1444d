// The one way to include Boost.Asio in Parley. Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so <utility> comes first. Include this only in .cpp files that need Asio:
// headers use runtime/executor.h to keep Asio out of most translation units (build time).
#pragma once

#include <utility>
// clang-format off
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/executor_work_guard.hpp>
// clang-format on

namespace asio = boost::asio;

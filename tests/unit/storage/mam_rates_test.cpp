// A small measurement, not a test (disabled; run it on purpose):
//   contrib/with-mariadb.sh build/tests/parley_storage_tests --gtest_also_run_disabled_tests
//     --gtest_filter='*DISABLED_MamAppendAndPageRates*'
// Appends PARLEY_BENCH_MESSAGES (default 20,000) archive rows in group commits of 20 (what the mam
// module's per-user batching produces under load) to one user's archive among 10 users, then runs 1,000
// page queries of 50 (half forward after a random id, half backward from the end, each with the
// XEP-0059 count), and prints the rates per backend.
#include <chrono>
#include <cstdio>
#include <random>

#include "storage/account_store.h"
#include "storage_conformance.h"
#include "xep/mam/archive_store.h"

namespace parley::storage::testing {
namespace {

using Clock = std::chrono::steady_clock;

TEST_P(StorageConformance, DISABLED_MamAppendAndPageRates) {
  const char* env = std::getenv("PARLEY_BENCH_MESSAGES");
  const int messages = env ? std::atoi(env) : 20'000;
  constexpr int kBatch = 20, kUsers = 10, kQueries = 1000, kPage = 50;
  for (int u = 0; u < kUsers; ++u)
    ASSERT_TRUE(AccountStore(db()).create("example.org", "u" + std::to_string(u), {}));
  xep::mam::ArchiveStore archive(db());
  const std::string xml =
      "<message xmlns='jabber:client' type='chat' to='u0@example.org' from='peer@example.org/phone' "
      "id='0123456789abcdef'><body>" +
      std::string(120, 'x') + "</body><origin-id xmlns='urn:xmpp:sid:0' id='0123456789abcdef'/></message>";
  auto t0 = Clock::now();
  std::int64_t id = 0;
  for (int done = 0; done < messages; done += kBatch) {
    std::vector<xep::mam::ArchiveRow> rows;
    for (int i = 0; i < kBatch; ++i) {
      xep::mam::ArchiveRow r;
      r.id = ++id;
      r.domain = "example.org";
      r.user = "u" + std::to_string(id % kUsers);
      r.with = "peer" + std::to_string(id % 7) + "@example.org";
      r.withResource = "phone";
      r.stamp = id * 1000;
      r.outgoing = id % 2;
      r.xml = xml;
      rows.push_back(std::move(r));
    }
    archive.append(rows);
  }
  const double appendSeconds = std::chrono::duration<double>(Clock::now() - t0).count();

  std::mt19937 random(42);
  auto t1 = Clock::now();
  std::size_t returned = 0;
  for (int q = 0; q < kQueries; ++q) {
    xep::mam::ArchiveQuery query;
    query.domain = "example.org";
    query.user = "u3";
    query.max = kPage;
    if (q % 2) {
      query.pageAfter = static_cast<std::int64_t>(random() % static_cast<unsigned>(id));
    } else {
      query.fromEnd = true;
    }
    returned += archive.query(query).messages.size();
  }
  const double querySeconds = std::chrono::duration<double>(Clock::now() - t1).count();
  std::printf(
      "[%s] MAM append: %d rows in %.2f s = %.0f rows/s (batches of %d); page queries (max %d, with "
      "count) on a %d-row archive: %.0f queries/s (%.2f ms each, %zu rows returned)\n",
      GetParam().name.c_str(), messages, appendSeconds, messages / appendSeconds, kBatch, kPage,
      messages / kUsers, kQueries / querySeconds, 1000 * querySeconds / kQueries, returned);
}

}  // namespace
}  // namespace parley::storage::testing

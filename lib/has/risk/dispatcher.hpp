#pragma once

// Handles risk events one at a time on a thread of its own, so that a long
// heal plan never holds up whoever reports the events (the HTTP receiver).

#include <has/risk/handle.hpp>
#include <has/risk/ingest.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace has::risk {

class Dispatcher {
public:
  // Called on the worker thread after each event it handled (handled is
  // null and error says why when handling threw). Events another handler
  // had claimed are skipped without a call.
  using Done = std::function<void(std::int64_t id, const Handled* handled, const std::string& error)>;

  // Keeps a reference to definitions: they must outlive the dispatcher.
  // options.claim is set: each event is handled once however many run.
  Dispatcher(const defs::Definitions& definitions, std::filesystem::path state_file, HandleOptions options,
             Done on_done);
  // Stops after the event in hand; queued events stay unhandled (for
  // `has risk handle --new`).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Queues the events that alerts opened or updated (an update may have made
  // one critical, which makes it due again).
  void add(const std::vector<Applied>& applied);
  // Returns when nothing is queued or in hand.
  void wait_idle();

private:
  void work(std::stop_token stop);

  const defs::Definitions& m_definitions;
  std::filesystem::path m_state_file;
  HandleOptions m_options;
  Done m_on_done;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  std::condition_variable m_idle;
  std::deque<std::int64_t> m_queue;
  bool m_busy = false;
  std::jthread m_thread; // last: it starts once everything above is ready
};

} // namespace has::risk

#include <has/risk/dispatcher.hpp>

namespace has::risk {

Dispatcher::Dispatcher(const defs::Definitions& definitions, std::filesystem::path state_file, HandleOptions options,
                       Done on_done)
    : m_definitions(definitions), m_state_file(std::move(state_file)), m_options(std::move(options)),
      m_on_done(std::move(on_done)) {
  m_options.claim = true;
  m_thread = std::jthread([this](std::stop_token stop) { work(stop); });
}

Dispatcher::~Dispatcher() {
  {
    std::lock_guard lock(m_mutex); // so that the worker cannot miss the wake-up
    m_thread.request_stop();
  }
  m_wake.notify_all();
}

void Dispatcher::add(const std::vector<Applied>& applied) {
  {
    std::lock_guard lock(m_mutex);
    for (const auto& item : applied) {
      if ((item.outcome == "opened" || item.outcome == "updated") && item.event_id) {
        m_queue.push_back(*item.event_id);
      }
    }
  }
  m_wake.notify_all();
}

void Dispatcher::wait_idle() {
  std::unique_lock lock(m_mutex);
  m_idle.wait(lock, [&] { return m_queue.empty() && !m_busy; });
}

void Dispatcher::work(std::stop_token stop) {
  for (;;) {
    std::int64_t id = 0;
    {
      std::unique_lock lock(m_mutex);
      m_busy = false;
      m_idle.notify_all();
      m_wake.wait(lock, [&] { return stop.stop_requested() || !m_queue.empty(); });
      if (stop.stop_requested()) {
        return;
      }
      id = m_queue.front();
      m_queue.pop_front();
      m_busy = true;
    }
    try {
      auto handled = handle(m_definitions, m_state_file, id, m_options);
      if (!handled.claimed_elsewhere && m_on_done) {
        m_on_done(id, &handled, {});
      }
    } catch (const std::exception& e) {
      if (m_on_done) {
        m_on_done(id, nullptr, e.what());
      }
    }
  }
}

} // namespace has::risk

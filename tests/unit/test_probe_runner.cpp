#include <has/probe/runner.hpp>

#include <doctest/doctest.h>
#include <httplib.h>

#include <stdexcept>
#include <thread>

using has::probe::Finished;
using has::probe::Result;
using has::probe::Status;
using has::probe::Task;

namespace {

// A cpp-httplib server on 127.0.0.1 (a free port) for the life of the object.
class Server {
public:
  Server() {
    m_server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content("up", "text/plain"); });
    m_port = m_server.bind_to_any_port("127.0.0.1");
    // The socket listens from bind on: requests wait in its backlog.
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
  }
  ~Server() {
    m_server.stop();
    m_thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port) + "/"; }

private:
  httplib::Server m_server;
  int m_port = 0;
  std::thread m_thread;
};

Task http_task(const std::string& url, std::function<Result(const has::util::HttpResponse&)> make) {
  Task task;
  has::util::HttpRequest request;
  request.url = url;
  request.timeout = std::chrono::seconds(5);
  task.http = request;
  task.on_http = std::move(make);
  return task;
}

} // namespace

TEST_CASE("probe runner: the taker of a finished HTTP task makes its result on its own thread") {
  Server server;
  std::vector<Task> tasks;
  std::thread::id made_on;
  tasks.push_back(http_task(server.url(), [&](const has::util::HttpResponse& response) {
    made_on = std::this_thread::get_id();
    Result result;
    result.values["status"] = response.status;
    result.values["body"] = response.body;
    return result;
  }));
  tasks.push_back(http_task(server.url(), [](const has::util::HttpResponse&) -> Result {
    throw std::runtime_error("cannot read the response");
  }));
  Task blocking;
  blocking.blocking = [] {
    Result result;
    result.message = "done";
    return result;
  };
  tasks.push_back(std::move(blocking));

  std::vector<Finished> finished;
  std::vector<std::size_t> order;
  has::probe::run_tasks(std::move(tasks), {}, [&](std::size_t index, Finished done) {
    order.push_back(index);
    finished.push_back(std::move(done));
  });
  REQUIRE(finished.size() == 3);
  std::vector<Result> results(3);
  for (std::size_t i = 0; i < finished.size(); ++i) {
    results.at(order[i]) = finished[i].take();
  }
  // Taken after run_tasks returned: the task list it owned is gone by then.
  CHECK(made_on == std::this_thread::get_id());
  CHECK(results[0].status == Status::ok);
  CHECK(results[0].values["status"] == 200);
  CHECK(results[0].values["body"] == "up");
  CHECK(results[1].status == Status::unknown);
  CHECK(results[1].message == "cannot read the response");
  CHECK(results[2].message == "done");
}

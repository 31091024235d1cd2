#include <has/diagnose/replay.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace has::diagnose {

namespace {

class RecordedObserver final : public Observer {
public:
  explicit RecordedObserver(const defs::TreeCase& test) : m_test(test) {}

  Observation observe(const defs::TreeNode& node, const nlohmann::json&, std::chrono::milliseconds) override {
    Observation seen;
    seen.checked = "recorded result";
    auto it = m_test.results.find(node.name);
    if (it == m_test.results.end()) {
      seen.error = fmt::format("test '{}' has no recorded result for node '{}'", m_test.name, node.name);
      seen.message = *seen.error;
      return seen;
    }
    seen.status = probe::parse_status(it->second.status).value_or(probe::Status::unknown);
    seen.value = it->second.status;
    seen.values = it->second.values;
    if (seen.values.contains("exit_code") && seen.values["exit_code"].is_number_integer()) {
      seen.exit_code = seen.values["exit_code"].get<int>();
    }
    if (seen.status == probe::Status::unknown) {
      seen.error = "recorded as unknown";
      seen.message = *seen.error;
    }
    return seen;
  }

  Observation collect(const defs::TreeNode&, const std::string&, const defs::ProbeSpec&, const nlohmann::json&,
                      std::chrono::milliseconds) override {
    Observation seen;
    seen.status = probe::Status::ok;
    seen.checked = "not collected in a test";
    return seen;
  }

private:
  const defs::TreeCase& m_test;
};

} // namespace

bool TestReport::passed() const {
  return std::all_of(cases.begin(), cases.end(), [](const CaseResult& c) { return c.passed; });
}

std::unique_ptr<Observer> recorded_observer(const defs::TreeCase& test) {
  return std::make_unique<RecordedObserver>(test);
}

TestReport test_tree(const defs::Tree& tree) {
  TestReport report;
  std::set<std::pair<std::string, std::size_t>> taken;
  for (const auto& test : tree.cases) {
    auto observer = recorded_observer(test);
    WalkOptions options;
    options.vars = test.vars;
    options.answers = test.answers;
    CaseResult result;
    result.name = test.name;
    result.expected = test.expect;
    result.outcome = walk(tree, *observer, options);
    result.passed = result.outcome.node == test.expect &&
                    (result.outcome.end == End::diagnosis) == (tree.find_node(test.expect) && tree.find_node(test.expect)->leaf());
    for (const auto& step : result.outcome.path) {
      if (step.branch) {
        taken.emplace(step.node, *step.branch);
      }
    }
    report.cases.push_back(std::move(result));
  }
  for (const auto& node : tree.nodes) {
    for (std::size_t i = 0; i < node.branches.size(); ++i) {
      ++report.branches;
      if (taken.count({node.name, i}) != 0) {
        ++report.covered;
      } else {
        report.uncovered.push_back({node.name, branch_label(node.branches[i])});
      }
    }
  }
  return report;
}

} // namespace has::diagnose

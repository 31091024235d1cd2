#pragma once

// Testing a tree without touching anything real: each case of the tree's
// `tests:` gives recorded results for its probe and use nodes; the walk is
// replayed against them and must end at the expected node.

#include <has/defs/model.hpp>
#include <has/diagnose/walk.hpp>

#include <string>
#include <vector>

namespace has::diagnose {

struct CaseResult {
  std::string name;
  std::string expected;
  bool passed = false;
  Outcome outcome;
};

// A branch no case takes.
struct Uncovered {
  std::string node;
  std::string branch; // its label
};

struct TestReport {
  std::vector<CaseResult> cases;
  std::size_t branches = 0; // of every node
  std::size_t covered = 0;  // taken by at least one case
  std::vector<Uncovered> uncovered;

  bool passed() const;
};

// Returns an Observer that answers each node with the case's recorded
// result (status unknown is a probe error; a node with none is one too).
std::unique_ptr<Observer> recorded_observer(const defs::TreeCase& test);

// Returns the result of every case of tree and the branch coverage; throws
// core::Error(usage) for a case whose answers do not fit the tree.
TestReport test_tree(const defs::Tree& tree);

} // namespace has::diagnose

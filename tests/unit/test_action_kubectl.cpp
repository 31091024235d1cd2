// No Kubernetes cluster runs on the machines these tests run on: a fake
// `kubectl` first in PATH records its argv and stdin, and the recorded
// invocation stands in for what the cluster would have been asked.

#include <has/action/action.hpp>

#include <has/core/error.hpp>

#include "test_fake_programs.hpp"

#include <doctest/doctest.h>

using has::action::Context;
using has::action::Spec;
using has::core::Error;
using has::core::ExitCode;
using has::test::FakePrograms;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const has::action::Kind& kubectl_kind() {
  const auto* kind = has::action::find_kind("kubectl");
  REQUIRE(kind != nullptr);
  return *kind;
}

Spec kubectl_spec(json fields, std::chrono::milliseconds timeout = 10s) {
  return Spec{"kubectl", std::move(fields), timeout};
}

using Argv = std::vector<std::string>;

} // namespace

TEST_CASE("action::kubectl runs kubectl with kubeconfig / context and namespace before the args") {
  FakePrograms fakes;
  fakes.add("kubectl", "echo '{\"kind\":\"Deployment\"}'");
  auto spec = kubectl_spec({{"kubeconfig", "/etc/k/prod.yaml"},
                            {"context", "prod"},
                            {"namespace", "shop"},
                            {"args", {"rollout", "restart", "deployment/api"}}});
  CHECK(kubectl_kind().describe(spec, {}) ==
        "kubectl --kubeconfig /etc/k/prod.yaml --context prod -n shop rollout restart deployment/api");
  auto outcome = kubectl_kind().run(spec, {});
  CHECK(outcome.ok);
  CHECK(fakes.argv("kubectl") == Argv{"kubectl", "--kubeconfig", "/etc/k/prod.yaml", "--context", "prod", "-n",
                                      "shop", "rollout", "restart", "deployment/api"});
  CHECK(outcome.outputs["json"]["kind"] == "Deployment");

  auto plain = kubectl_spec({{"args", {"get", "pods"}}});
  CHECK(kubectl_kind().describe(plain, {}) == "kubectl get pods");
  CHECK(kubectl_kind().run(plain, {}).ok);
  CHECK(fakes.argv("kubectl") == Argv{"kubectl", "get", "pods"});
}

TEST_CASE("action::kubectl passes hostile values as single arguments and feeds stdin") {
  FakePrograms fakes;
  fakes.add("kubectl");
  Argv args{"annotate", "pod/x", "note=$(touch pwned); rm -rf ~ `id` 'q' \"qq\"\nline"};
  auto spec = kubectl_spec({{"namespace", "a b; c"}, {"args", args}, {"stdin", "apiVersion: v1\nkind: Pod\n"}});
  CHECK(kubectl_kind().run(spec, {}).ok);
  Argv expected{"kubectl", "-n", "a b; c"};
  expected.insert(expected.end(), args.begin(), args.end());
  CHECK(fakes.argv("kubectl") == expected);
  CHECK(fakes.stdin_of("kubectl") == "apiVersion: v1\nkind: Pod\n");
  CHECK_FALSE(std::filesystem::exists("pwned"));
}

TEST_CASE("action::kubectl reports failures and timeouts") {
  FakePrograms fakes;
  fakes.add("kubectl", "echo 'error: the server does not have resource type \"podz\"' >&2; exit 1");
  auto failed = kubectl_kind().run(kubectl_spec({{"args", {"get", "podz"}}}), {});
  CHECK_FALSE(failed.ok);
  CHECK(failed.exit_code == 1);
  CHECK(failed.message == "exit 1: error: the server does not have resource type \"podz\"");

  fakes.add("kubectl", "sleep 30");
  auto slow = kubectl_kind().run(kubectl_spec({{"args", {"wait", "pod/x"}}}, 500ms), {});
  CHECK_FALSE(slow.ok);
  CHECK(slow.outputs["timed_out"] == true);
}

TEST_CASE("action::kubectl rejects bad fields - naming them") {
  auto error_of = [](json fields) {
    try {
      kubectl_kind().describe(kubectl_spec(std::move(fields)), {});
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::bad_definitions);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of({{"args", json::array()}}) == "kubectl action: field 'args' is empty");
  CHECK(error_of({{"args", "get pods"}}) == "kubectl action: field 'args' must be a list");
  CHECK(error_of({{"args", {"get"}}, {"namespace", ""}}) == "kubectl action: field 'namespace' is empty");
  CHECK(error_of({{"args", {"get"}}, {"context", {"a"}}}) == "kubectl action: field 'context' must be a single value");
}

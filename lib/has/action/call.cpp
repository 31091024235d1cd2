// plan and use: run another plan (`plan: {name, params}`, under its own
// lock) or an Action template (`use: NAME` with `with:`, under the caller's)
// as a child run of this one. The child is journaled as a run of its own;
// undoing the step rolls that run back.

#include <has/action/kinds.hpp>
#include <has/action/support.hpp>
#include <has/core/error.hpp>
#include <has/util/process.hpp>

#include <fmt/format.h>

namespace has::action {

namespace {

// What distinguishes the two kinds.
struct Callable {
  std::string_view noun;        // plan, Action
  std::string_view given_field; // params, with
  const defs::Plan* (defs::Definitions::*find)(std::string_view) const;
};

constexpr Callable k_plan_call{"plan", "params", &defs::Definitions::find_plan};
constexpr Callable k_use_call{"Action", "with", &defs::Definitions::find_action};

nlohmann::json given(const Spec& spec, const Callable& callable) {
  auto found = spec.fields.find(callable.given_field);
  return found == spec.fields.end() || found->is_null() ? nlohmann::json::object() : *found;
}

std::string describe_call(const Spec& spec, const Callable& callable) {
  std::string text = fmt::format("{} {}", spec.kind, text_field(spec, "name"));
  auto values = given(spec, callable);
  if (values.is_object()) {
    for (const auto& item : values.items()) {
      auto value = item.value().is_string() ? item.value().get<std::string>() : item.value().dump();
      text += fmt::format(" {}={}", item.key(), util::shell_quote(value));
    }
  }
  return text;
}

Call find_callee(const Spec& spec, const defs::Definitions& definitions, const Callable& callable) {
  return {(definitions.*callable.find)(text_field(spec, "name")), given(spec, callable)};
}

Outcome run_call(const Spec& spec, const Context& context, const Callable& callable) {
  auto name = text_field(spec, "name");
  auto call = context.definitions ? find_callee(spec, *context.definitions, callable) : Call{};
  if (call.plan == nullptr) {
    throw core::Error(core::ExitCode::bad_definitions, fmt::format("no {} named '{}'", callable.noun, name));
  }
  if (!context.run_child) {
    throw core::Error(core::ExitCode::failure, fmt::format("{} '{}' can only run inside a plan", callable.noun, name));
  }
  return context.run_child(*call.plan, call.given);
}

} // namespace

const Kind k_plan{"plan",
                  [](const Spec& spec, const Context&) { return describe_call(spec, k_plan_call); },
                  [](const Spec& spec, const Context& context) { return run_call(spec, context, k_plan_call); },
                  Flow::call,
                  [](const Spec& spec, const defs::Definitions& definitions) {
                    return find_callee(spec, definitions, k_plan_call);
                  },
                  true,
                  std::chrono::milliseconds(0)}; // bounded by its own plan's timeout, if any

const Kind k_use{"use",
                 [](const Spec& spec, const Context&) { return describe_call(spec, k_use_call); },
                 [](const Spec& spec, const Context& context) { return run_call(spec, context, k_use_call); },
                 Flow::call,
                 [](const Spec& spec, const defs::Definitions& definitions) {
                   return find_callee(spec, definitions, k_use_call);
                 },
                 false,
                 std::chrono::milliseconds(0)};

} // namespace has::action

#pragma once

#include <has/probe/probe.hpp>

namespace has::probe {

// One function per probe kind, each in its own file; registry.cpp maps
// names to them. Each returns the task for spec and throws like make_task().
Task make_http(const Spec& spec);
Task make_tcp(const Spec& spec);
Task make_dns(const Spec& spec);
Task make_exec(const Spec& spec);
Task make_system(const Spec& spec);
Task make_sql(const Spec&);
Task make_prometheus(const Spec&);
Task make_page(const Spec&);
Task make_container(const Spec&);
// Returns the argv of the container probe's `ENGINE run` for its fields and
// a container name (env values stay out of it: only `-e NAME`). Throws like
// make_task() for a bad field.
std::vector<std::string> container_argv(std::string_view engine, const nlohmann::json& fields,
                                        std::string_view name);

} // namespace has::probe

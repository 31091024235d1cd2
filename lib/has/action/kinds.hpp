#pragma once

// The action kinds, one file each; registry.cpp lists them.

#include <has/action/action.hpp>

namespace has::action {

extern const Kind k_exec;
extern const Kind k_ssh;
extern const Kind k_http;
extern const Kind k_systemd;
extern const Kind k_signal;
extern const Kind k_wait;
extern const Kind k_kubectl;
extern const Kind k_docker;
extern const Kind k_confirm;
extern const Kind k_notify;
extern const Kind k_plan;
extern const Kind k_use;

} // namespace has::action

#pragma once

// The OpenSSH command line shared by the kinds that act on a remote host
// (ssh, systemd with a host); not part of the action interface.

#include <has/action/action.hpp>

#include <string>
#include <vector>

namespace has::action {

// Returns `ssh <options> -- ADDRESS` for the host named by the field `host`
// (an inventory name or an address), with connection reuse through a control
// socket in context.runtime_dir (no reuse when it is empty), and user, port, identity, host_key,
// known_hosts and options from the step's fields, else from has.yaml's
// `ssh:` section. Throws core::Error(bad_definitions) naming a bad field.
std::vector<std::string> ssh_argv(const Spec& spec, const Context& context);

// Returns argv as one command line for the remote shell: sshd hands the
// command to the remote user's shell, so each element is shell-quoted and
// reaches the remote program as one argument, whatever it holds.
std::string remote_command(const std::vector<std::string>& argv);

} // namespace has::action

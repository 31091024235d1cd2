#!/usr/bin/env bash
# --help of every subcommand, unknown flags and commands, version, completion.
. "$(dirname "$0")/lib.sh"

run --help
expect_rc 0 "has --help"
for cmd in inspect notify diagnose plan drill failover risk validate init state completion version; do
  expect_out "$cmd" "has --help lists $cmd"
done
expect_out "-C DIR" "global -C documented"
expect_out "--state FILE" "global --state documented"
expect_out "64 usage" "exit codes in help"

for cmd in inspect notify diagnose plan drill failover risk validate init state completion version; do
  run "$cmd" --help
  expect_rc 0 "has $cmd --help"
  expect_out "Usage:" "has $cmd --help prints usage"
done

run drill --help
expect_out "not yet available" "drill --help says it is not yet available"

run plan --help
expect_out "resume" "plan --help lists its verbs"

run
expect_rc 64 "no subcommand"
expect_err "has: error:" "no subcommand message"

run --frobnicate validate
expect_rc 64 "unknown global flag"
expect_err "has: error:" "unknown flag message"
expect_err "help: run 'has" "unknown flag help line"

run validate --frobnicate
expect_rc 64 "unknown subcommand flag"
expect_err "help: run 'has validate --help'" "help line names the subcommand"

run frobnicate
expect_rc 64 "unknown subcommand"

run -o xml version
expect_rc 64 "unknown format"
expect_err "unknown output format 'xml'" "format error"
expect_err "help: use one of" "format help"

for cmd in drill failover; do
  run "$cmd" run something --flag
  expect_rc 69 "has $cmd is unavailable"
  expect_err "has: error: 'has $cmd' is not yet available" "has $cmd message"
  expect_err "  reason:" "has $cmd reason"
  expect_err "  help:" "has $cmd help"
done

run version
expect_rc 0 "version"
expect_out '"version": "0.' "version json when not a terminal"
expect_out '"commit":' "version has the commit"
expect_out '"SQLite": "3.' "version lists SQLite"
expect_out '"Lua": "5.4' "version lists Lua"
expect_no_out 'Boost' "version lists no library has does not link"
run -o table version
expect_out "has 0." "version table"
expect_out "libcurl" "version table lists curl"
run --version
expect_rc 0 "--version"
expect_out "has 0." "--version text"

run completion bash
expect_rc 0 "completion bash"
expect_out "complete -F _has has" "completion registers"
expect_out '"has validate") words=' "completion knows validate"
bash -n "$T/stdout" && ok || fail "completion script is not valid bash"
# The script completes subcommands in a real bash.
words=$(bash -c '. "$1"; COMP_WORDS=(has val); COMP_CWORD=1; _has; printf "%s\n" "${COMPREPLY[@]}"' _ "$T/stdout")
[ "$words" = "validate" ] && ok || fail "completion of 'has val' gave '$words'"
words=$(bash -c '. "$1"; COMP_WORDS=(has -o js); COMP_CWORD=2; _has; printf "%s\n" "${COMPREPLY[@]}"' _ "$T/stdout")
[ "$words" = "json" ] && ok || fail "completion of '-o js' gave '$words'"
run completion zsh
expect_rc 64 "unsupported shell"

finish

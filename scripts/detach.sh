#!/usr/bin/env bash
# detach.sh <command...>: runs a daemon in a session of its own, its output and
# input already redirected by the caller, and without any descriptor above
# stderr that this script inherited (a caller's lock file, say: a daemon that
# kept one would hold the lock for its whole life).
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
done
exec setsid nohup "$@"

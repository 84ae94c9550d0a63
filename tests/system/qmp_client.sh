# A QMP client for system tests (sourced): one session at a time over socat, to the socket in
# $sock; replies are read line by line, events collected aside in $events.
#   open_client / close_client, qmp JSON (sets $reply), wait_running, wait_event NAME SECONDS
events=${events:-/tmp/qmp-events}
: > "$events"
open_client() {
  coproc QMP { socat - "UNIX-CONNECT:$sock"; }
  # Own copies: bash drops QMP[] when socat exits (after altovirt closes), while events may be unread.
  exec {qin}<&"${QMP[0]}" {qout}>&"${QMP[1]}"
  qmp_pid=$QMP_PID
  IFS= read -r -t 30 greeting <&"$qin" || fail "no QMP greeting"
  greeting=${greeting%$'\r'}
}
close_client() {
  exec {qout}>&- {qin}<&-
  [ -n "${QMP[1]:-}" ] && eval "exec ${QMP[1]}>&- ${QMP[0]}<&-"
  wait_pid 30 "$qmp_pid" "socat (the QMP client)" 2>/dev/null || true
}
reply=""
qmp() {  # qmp JSON-TEXT : sends it, sets $reply to the first return/error line
  printf '%s\n' "$1" >&"$qout"
  local line
  while IFS= read -r -t 60 line <&"$qin"; do
    line=${line%$'\r'}  # QMP ends lines with CRLF
    case "$line" in
      *'"event"'*) echo "$line" >> "$events" ;;
      *) reply=$line; return 0 ;;
    esac
  done
  fail "no reply to $1"
}
wait_running() {  # polls query-status (up to 60 s) until the machine runs; $reply holds the last answer
  for _ in $(seq 300); do
    qmp '{"execute":"query-status"}'
    case "$reply" in *'"status":"running"'*) return 0 ;; *) sleep 0.2 ;; esac
  done
}
wait_built() {  # polls query-status (up to 60 s) while it says prelaunch; $reply holds the last answer
  for _ in $(seq 300); do
    qmp '{"execute":"query-status"}'
    case "$reply" in *prelaunch*) sleep 0.2 ;; *) return 0 ;; esac
  done
}
wait_event() {  # wait_event NAME SECONDS : reads events until NAME arrives (or SECONDS pass)
  local end=$((SECONDS + $2)) line rc partial=""
  grep -q "\"event\":\"$1\"" "$events" && return 0
  while [ $SECONDS -lt $end ]; do
    if IFS= read -r -t 1 line <&"$qin"; then
      line=$partial$line; partial=""
      echo "$line" >> "$events"
      case "$line" in *"\"event\":\"$1\""*) return 0 ;; esac
    else
      rc=$?
      # A timeout (> 128) waits on, keeping what it read of a line that was still arriving (bash
      # hands it over and it is gone from the pipe); the end of the stream ends the wait.
      [ "$rc" -gt 128 ] || { [ -n "$line" ] && echo "$partial$line" >> "$events"; break; }
      partial=$partial$line
    fi
  done
  grep -q "\"event\":\"$1\"" "$events"
}

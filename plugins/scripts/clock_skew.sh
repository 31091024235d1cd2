#!/bin/sh
# clock_skew.sh - how far this host's clock is from a reference server's, read
# from the Date header of its HTTP reply, for hosts that cannot reach NTP.
#
#   clock_skew.sh [-t SECONDS] [-C CA_FILE] URL
#
# A Nagios plugin: exit 0 with the offset as perfdata (offset=Ns, positive
# when the server is ahead), exit 3 when the offset cannot be read. It does
# not judge the offset itself; the rule's thresholds do. The Date header has
# whole seconds, so the offset is good to about one second. A cached reply
# (an Age header) is corrected by its age.
#
# POSIX sh and curl only: dates are turned into seconds by arithmetic, since
# date -d (GNU) and date -j (BSD) differ.

usage() {
  echo "usage: clock_skew.sh [-t SECONDS] [-C CA_FILE] URL" >&2
  exit 3
}

timeout=5
ca_file=
while getopts t:C: opt; do
  case $opt in
    t) timeout=$OPTARG ;;
    C) ca_file=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ] || [ -z "$1" ]; then usage; fi
url=$1

if ! command -v curl >/dev/null 2>&1; then
  echo "CLOCK UNKNOWN - curl is not installed"
  exit 3
fi

# Seconds since the epoch of a UTC date: days_from_civil (H. Hinnant) for
# years from 1970 on.
epoch() { # YEAR MONTH DAY HOUR MINUTE SECOND, without leading zeros
  _y=$1 _m=$2
  [ "$_m" -le 2 ] && _y=$((_y - 1))
  _era=$((_y / 400))
  _yoe=$((_y - _era * 400))
  _doy=$(((153 * ((_m + 9) % 12) + 2) / 5 + $3 - 1))
  _doe=$((_yoe * 365 + _yoe / 4 - _yoe / 100 + _doy))
  echo $(((_era * 146097 + _doe - 719468) * 86400 + $4 * 3600 + $5 * 60 + $6))
}

# "08" would be octal in $(( )).
num() {
  _n=$1
  while [ "${#_n}" -gt 1 ] && [ "${_n#0}" != "$_n" ]; do _n=${_n#0}; done
  echo "$_n"
}

now() {
  # shellcheck disable=SC2046
  set -- $(date -u '+%Y %m %d %H %M %S')
  epoch "$(num "$1")" "$(num "$2")" "$(num "$3")" "$(num "$4")" "$(num "$5")" "$(num "$6")"
}

set -- -sS -I --max-time "$timeout"
[ -n "$ca_file" ] && set -- "$@" --cacert "$ca_file"
before=$(now)
if ! reply=$(curl "$@" -- "$url" 2>&1); then
  echo "CLOCK UNKNOWN - cannot reach $url: $(printf '%s\n' "$reply" | tail -n 1)"
  exit 3
fi
after=$(now)

header() { # NAME in lower case: the value of its last header line
  printf '%s\n' "$reply" | tr -d '\r' | awk -v name="$1" '
    index(tolower($0), name ":") == 1 { value = substr($0, length(name) + 2); sub(/^[ \t]+/, "", value) }
    END { print value }'
}
date_text=$(header date)
age=$(header age)

# IMF-fixdate (RFC 9110 5.6.7), the only form servers may send:
# "Sun, 06 Nov 1994 08:49:37 GMT".
# shellcheck disable=SC2086
set -- $date_text
if [ $# -ne 6 ] || [ "$6" != GMT ]; then
  echo "CLOCK UNKNOWN - $url sent no usable Date header ('$date_text')"
  exit 3
fi
case $3 in
  Jan) month=1 ;; Feb) month=2 ;; Mar) month=3 ;; Apr) month=4 ;;
  May) month=5 ;; Jun) month=6 ;; Jul) month=7 ;; Aug) month=8 ;;
  Sep) month=9 ;; Oct) month=10 ;; Nov) month=11 ;; Dec) month=12 ;;
  *) echo "CLOCK UNKNOWN - cannot read the Date header '$date_text' of $url"; exit 3 ;;
esac
day=$2 year=$4 clock=$5
old_ifs=$IFS
IFS=:
# shellcheck disable=SC2086
set -- $clock
IFS=$old_ifs
case "$year $day $1 $2 $3" in
  *[!0-9\ ]* | *\ \ * | *\ ) echo "CLOCK UNKNOWN - cannot read the Date header '$date_text' of $url"; exit 3 ;;
esac
server=$(epoch "$(num "$year")" "$month" "$(num "$day")" "$(num "$1")" "$(num "$2")" "$(num "$3")")
case $age in
  '' | *[!0-9]*) ;;
  *) server=$((server + $(num "$age"))) ;;
esac

# Our time is taken as the middle of the request.
offset=$((server - (before + after) / 2))
if [ "$offset" -ge 0 ]; then sign=+; else sign=; fi
echo "clock offset ${sign}${offset}s from $url | offset=${offset}s"
exit 0

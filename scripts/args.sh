# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Sourced, not run, by the scripts that take no arguments:
#   . "$(dirname "$0")/args.sh" "$@"
# --help prints the script's header comment; anything else is a usage error.
case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "$0: no arguments expected (--help)" >&2; exit 2 ;;
esac

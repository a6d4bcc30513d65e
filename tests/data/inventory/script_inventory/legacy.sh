#!/bin/sh
# An old-style script without _meta: variables come from one --host run per host.
case "$1" in
  --list) echo '{"legacy": {"hosts": ["old01", "old02"], "vars": {"legacy": true}}}' ;;
  --host)
    case "$2" in
      old01) echo '{"ansible_host": "198.19.210.31", "owner": "ops"}' ;;
      *) echo '{}' ;;
    esac ;;
  *) exit 2 ;;
esac

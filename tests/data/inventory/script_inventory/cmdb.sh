#!/bin/sh
# A dynamic inventory script with _meta (one --list run gives everything).
case "$1" in
  --list) cat <<'JSON'
{
  "web": {"hosts": ["web01", "web02"], "vars": {"http_port": 8080}, "children": ["edge"]},
  "edge": ["edge01"],
  "db": {"hosts": ["db01"]},
  "prod": {"children": ["web", "db"], "vars": {"env": "prod", "knock_sequence": [7101, 7202, 7303]}},
  "_meta": {"hostvars": {
    "web01": {"ansible_host": "198.19.210.11", "rack": "a1"},
    "db01": {"ansible_host": "198.19.210.21", "ansible_port": 2222}
  }}
}
JSON
  ;;
  --host) echo '{}' ;;
  *) echo "usage: $0 --list | --host NAME" >&2; exit 2 ;;
esac

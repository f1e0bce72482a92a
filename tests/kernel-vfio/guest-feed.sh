#!/bin/bash
# guest-feed.sh COUNT STREAM SIZE: the migration test's --feed inside the
# kernel-vfio guest. Asks the host's kv-peer (over the control line,
# /dev/ttyS1) to send COUNT numbered frames of STREAM, SIZE bytes each, to
# the VF; kv-peer paces them so that none is lost however slowly the guest
# takes them.
set -u
[ $# -eq 3 ] || { echo "usage: guest-feed.sh COUNT STREAM SIZE" >&2; exit 2; }
exec {c}<>/dev/ttyS1
printf 'send gen %s %s %s\n' "$1" "$2" "$3" >&"$c"
IFS= read -r -t 60 reply <&"$c" || { echo "guest-feed: kv-peer did not answer within 60 s" >&2; exit 1; }
[ "$reply" = ok ] || { echo "guest-feed: kv-peer refused: $reply" >&2; exit 1; }

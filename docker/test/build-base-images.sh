#!/usr/bin/env bash
# Builds, without any image registry, the base images the compose test runs on:
#   yagona-base/debian:bookworm   a minimal Debian root file system (debootstrap), imported
#   yagona-base/postgres:15       PostgreSQL from Debian's packages, with the official image's
#                                 interface (POSTGRES_* variables, /var/lib/postgresql/data)
#   yagona-base/haproxy:2.6       haproxy from Debian's packages, with the official image's
#                                 interface (/usr/local/etc/haproxy/haproxy.cfg)
# An image already present is not built again (`--force` rebuilds all three).
set -euo pipefail
cd "$(dirname "$0")"

force=0
[[ "${1:-}" == "--force" ]] && force=1

have() { [[ $force == 0 ]] && docker image inspect "$1" >/dev/null 2>&1; }

# The mirror apt already uses on this machine (deb822 or one-line format).
mirror() {
  local uri
  uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  if [[ -z "$uri" ]]; then
    uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

if have yagona-base/debian:bookworm; then
  echo "yagona-base/debian:bookworm: present"
else
  rootfs=$(mktemp -d /tmp/yagona-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  echo "debootstrap --variant=minbase bookworm from $(mirror) (a few minutes)"
  debootstrap --variant=minbase bookworm "$rootfs" "$(mirror)" >/tmp/yagona-debootstrap.log 2>&1 \
    || { tail -20 /tmp/yagona-debootstrap.log; exit 1; }
  # Keep images small like the official slim image: no apt lists, no docs.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - yagona-base/debian:bookworm
  rm -rf "$rootfs"
  trap - EXIT
fi

for image in postgres:15 haproxy:2.6; do
  name=${image%%:*}
  if have "yagona-base/$image"; then
    echo "yagona-base/$image: present"
  else
    echo "building yagona-base/$image from Debian's packages"
    # --network host: the build's apt-get reaches the mirror the host reaches.
    docker build --network host -q -t "yagona-base/$image" -f "$name.Dockerfile" .
  fi
done

#!/usr/bin/env bash
# Builds a stand-in for the Dockerfile's base image from Debian packages, for
# machines that reach Debian's mirror and PyPI but no container registry, and
# tags it with the base's name so the Dockerfile builds unchanged.
# Debian bookworm's python3 is 3.11, like the pinned base. Usage: base_image.sh TAG
set -euo pipefail
tag="$1"
if podman image exists "$tag"; then exit 0; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The mirror lines apt on this machine uses (deb822 or one-line), Debian's only.
grep -hs '^deb \|^URIs:' /etc/apt/sources.list /etc/apt/sources.list.d/* \
  | grep -o 'https\?://deb.debian.org/[a-z-]*' | sort -u > "$work/mirrors" || true
[ -s "$work/mirrors" ] || echo http://deb.debian.org/debian > "$work/mirrors"
sources=""
while read -r url; do
  case "$url" in
    */debian-security) sources+="deb $url bookworm-security main"$'\n' ;;
    *) sources+="deb $url bookworm main"$'\n'"deb $url bookworm-updates main"$'\n' ;;
  esac
done < "$work/mirrors"
echo "building the stand-in base image $tag from Debian bookworm"
mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include=python3,python3-pip,python3-venv,python-is-python3,ca-certificates,netbase,tzdata \
  --customize-hook='rm -f "$1"/usr/lib/python3.*/EXTERNALLY-MANAGED' \
  bookworm "$work/base.tar" - <<<"$sources"
podman import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$work/base.tar" "$tag" >/dev/null

#!/usr/bin/env bash
# Checks the machine's tools and writes the project-local Terraform CLI config.
#
#   scripts/toolchain.sh check      one line per missing or too-old tool, exit 1
#   scripts/toolchain.sh mirror     print the provider mirror directory, or nothing
#   scripts/toolchain.sh terraformrc FILE PLUGIN_CACHE_DIR
#                                   write the CLI config: the offline mirror when
#                                   one is found, else the public registry
#
# The mirror comes from $TF_PROVIDER_MIRROR when set; otherwise the usual places
# are searched for a registry-layout folder holding hashicorp/aws (NOTES §1).
set -euo pipefail

need_version() { # name have want -> 0 if have >= want (dotted numbers)
  [ "$(printf '%s\n%s\n' "$3" "$2" | sort -V | head -n1)" = "$3" ]
}

check() {
  local bad=0 v
  if ! command -v python3 >/dev/null; then
    echo "setup: python3 is missing: install Python >= 3.11 (e.g. apt-get install python3 python3-venv)"; bad=1
  else
    v=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    need_version python3 "$v" 3.11 || { echo "setup: python3 is $v: install Python >= 3.11"; bad=1; }
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "setup: node/npm are missing: install Node.js >= 20 with npm (https://nodejs.org)"; bad=1
  else
    v=$(node --version | tr -d v)
    need_version node "$v" 20.0.0 || { echo "setup: node is $v: install Node.js >= 20"; bad=1; }
  fi
  if ! command -v terraform >/dev/null; then
    echo "setup: terraform is missing: install Terraform >= 1.10 (S3 native locking needs it)"; bad=1
  else
    v=$(terraform version -json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["terraform_version"])')
    need_version terraform "$v" 1.10.0 || { echo "setup: terraform is $v: install Terraform >= 1.10"; bad=1; }
  fi
  return $bad
}

mirror() {
  if [ -n "${TF_PROVIDER_MIRROR:-}" ]; then
    [ -d "$TF_PROVIDER_MIRROR/registry.terraform.io/hashicorp/aws" ] && echo "$TF_PROVIDER_MIRROR"
    return 0
  fi
  local d
  for d in /opt/tf-plugins /usr/share/terraform/plugins /usr/local/share/terraform/plugins \
           "$HOME/.terraform.d/plugins" "$HOME/.local/share/terraform/plugins"; do
    if [ -d "$d/registry.terraform.io/hashicorp/aws" ]; then echo "$d"; return 0; fi
  done
}

terraformrc() {
  local file=$1 cache=$2 dir
  mkdir -p "$(dirname "$file")" "$cache"
  dir=$(mirror)
  {
    echo "# Written by scripts/toolchain.sh; do not edit."
    echo "plugin_cache_dir = \"$cache\""
    echo "disable_checkpoint = true"
    if [ -n "$dir" ]; then
      echo "# Offline: providers come from the filesystem mirror only."
      echo "provider_installation {"
      echo "  filesystem_mirror {"
      echo "    path    = \"$dir\""
      echo "    include = [\"registry.terraform.io/*/*\"]"
      echo "  }"
      echo "}"
    else
      echo "# No mirror found (set TF_PROVIDER_MIRROR): providers come from the public registry."
      echo "provider_installation {"
      echo "  direct {}"
      echo "}"
    fi
  } > "$file.tmp"
  mv "$file.tmp" "$file"
}

cmd=${1:-}
shift || true
case "$cmd" in
  check) check ;;
  mirror) mirror ;;
  terraformrc) terraformrc "$@" ;;
  *) echo "usage: $0 check|mirror|terraformrc FILE CACHE" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Checks, in a second, the system tools a make target needs, before anything slow starts.
# As root it installs the missing ones from Debian's packages; otherwise it names them and prints the
# exact command to run, and fails.
#
#   scripts/system-deps.sh test    tools for `make test` (the capture tests program real iptables in
#                                  network namespaces: iptables with both back ends, iproute2, setpriv)
#   scripts/system-deps.sh e2e     tools for `make e2e` / `make demo` (openssl for the local PKI, go to
#                                  build the control plane unless KUBEBUILDER_ASSETS is set)
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"   # iptables and ip live in sbin, which a non-login PATH may lack

declare -A package_of=(
  [iptables-legacy]=iptables [iptables-nft]=iptables [iptables-restore]=iptables [ip6tables]=iptables
  [ip]=iproute2 [setpriv]=util-linux [openssl]=openssl
)
case "${1:-}" in
  test) tools=(iptables-legacy iptables-nft iptables-restore ip6tables ip setpriv) ;;
  e2e) tools=(openssl) ;;
  *) echo "usage: $0 test|e2e" >&2; exit 2 ;;
esac

missing=()
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${package_of[$tool]}")
done
if [ "$1" = e2e ] && [ -z "${KUBEBUILDER_ASSETS:-}" ] && ! command -v go >/dev/null && [ ! -x /usr/local/go/bin/go ]; then
  echo "make e2e/demo build kube-apiserver and etcd with Go >= 1.24, which is not on PATH (or set KUBEBUILDER_ASSETS)" >&2
  exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0
readarray -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" -ne 0 ] && [ "$1" = test ]; then
  # Network namespaces need root: as another user the capture tests skip themselves, so nothing is missing.
  echo "note: not root, so the capture tests in network namespaces will be skipped (as root they need: ${packages[*]})" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${packages[*]}" >&2
  echo "install them with:  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages[*]}" >&2
  exit 1
fi
echo "installing missing system packages from Debian: ${packages[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

# Shared by the scripts in this folder: where the Python 3.14 toolchain lives and how to run in it.
# Sourced, never executed.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="$REPO_ROOT/.cache"
DEBIAN_ROOT="$CACHE_DIR/debian-root"
NATIVE_VENV="$CACHE_DIR/venv"
# Inside the Debian root the checkout is bound here, in a private mount namespace only.
ROOT_WORKSPACE="/workspace"
ROOT_VENV="/opt/venv"
MIN_PYTHON="3.14.2"
SERVICE_PACKAGES="fail2ban pebble certbot nginx openssh-server openssh-client openssl sqlite3 sudo apt-utils curl"
export REPO_ROOT CACHE_DIR DEBIAN_ROOT

log() { printf '\033[1;34m[homelab-sentinel]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[homelab-sentinel]\033[0m %s\n' "$*" >&2; exit 1; }

# A python3.14 already on PATH that is new enough (a contributor's own machine).
native_python() {
    local candidate
    candidate="$(command -v python3.14 2>/dev/null)" || return 1
    "$candidate" -c "import sys; sys.exit(0 if sys.version_info >= (3, 14, 2) else 1)" 2>/dev/null || return 1
    printf '%s\n' "$candidate"
}

# Which toolchain this checkout uses: "native" when .cache/venv exists, else the Debian root.
toolchain_mode() {
    if [ -x "$NATIVE_VENV/bin/python" ]; then
        echo native
    elif [ -f "$DEBIAN_ROOT$ROOT_VENV/pyvenv.cfg" ]; then
        echo debian-root
    else
        echo none
    fi
}

# Run a command with the project's toolchain, from the top of the checkout.
# In the Debian root, /proc is mounted and the checkout bound only inside a private mount
# namespace, so nothing stays mounted when the command ends, whatever way it ends.
in_toolchain() {
    case "$(toolchain_mode)" in
        native)
            (cd "$REPO_ROOT" && PATH="$NATIVE_VENV/bin:$PATH" "$@")
            ;;
        debian-root)
            in_debian_root "cd $ROOT_WORKSPACE && $(printf '%q ' "$@")"
            ;;
        *)
            die "the toolchain is not provisioned; run scripts/setup"
            ;;
    esac
}

# Run a shell snippet inside the Debian root with a clean environment.
in_debian_root() {
    local snippet="$1"
    local passthrough=()
    local name
    for name in CI HOMELAB_SENTINEL_DEMO_PORT PYTEST_ADDOPTS TERM; do
        if [ -n "${!name:-}" ]; then passthrough+=("$name=${!name}"); fi
    done
    unshare --mount --fork --propagation private -- /bin/bash -c '
        set -e
        root="$1"; workspace="$2"; repo="$3"; shift 3
        mount -t proc proc "$root/proc"
        mkdir -p "$root$workspace"
        mount --bind "$repo" "$root$workspace"
        mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm" 2>/dev/null || true
        mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts" 2>/dev/null || true
        exec chroot "$root" "$@"
    ' _ "$DEBIAN_ROOT" "$ROOT_WORKSPACE" "$REPO_ROOT" \
        env -i HOME=/root LANG=C.UTF-8 \
        PATH="$ROOT_VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        "${passthrough[@]}" /bin/bash -c "$snippet"
}

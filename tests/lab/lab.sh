#!/usr/bin/env bash
# lab.sh — sesame's test lab: real Debian bookworm hosts, each in its own network, mount, PID and
# UTS namespace on this machine, with a real sshd, real iptables and (once installed) real knockd.
# Nothing here routes off the machine: hosts live on a private bridge in 198.19.K.0/24 and
# fd5e:5a3e:0:K::/64 with no gateway, and the controller's own firewall and forwarding are never
# touched. See tests/lab/README.md, or run `lab.sh --help`.
set -euo pipefail
shopt -s nullglob inherit_errexit

LAB_SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
CACHE=${SESAME_LAB_CACHE:-/var/cache/sesame-lab}
STATE=${SESAME_LAB_STATE:-/var/lib/sesame-lab}
FLEETS=$STATE/fleets
# The host kind `up` and `image` make (flags --os/--init/--flavour; see usage).
OS=bookworm
INIT=sysv
FLAVOUR=default
# How long `up`/`reboot` wait for every sshd to accept TCP (seconds, plus one per host).
SSH_WAIT=${SESAME_LAB_SSH_WAIT:-60}
MAX_HOSTS=200
MAX_FLEETS=200
HOST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# The image recipe: changing any of these (or the functions named in recipe_hash) rebuilds it.
IMAGE_INCLUDE=openssh-server,iptables,python3,python3-apt,sudo,procps,iproute2,netbase
# The local repository also holds what the systemd and provider layers install.
REPO_PACKAGES=(knockd iptables-persistent netfilter-persistent ufw tree systemd-sysv dbus nftables)
OPS_PASSWORD=ops-lab-pw

# Seconds since an $EPOCHREALTIME stamp, with 2 decimals.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
log() { printf 'lab: %s\n' "$*" >&2; }
die() {
    printf 'lab: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    cat <<'EOF'
lab.sh — real Debian hosts in network namespaces, for sesame's tests (run as root).

Usage:
  lab.sh image [KIND]                   build the cached image, apt repo and SSH key (once)
  lab.sh up N [--fleet NAME] [KIND]     start hosts h1..hN of fleet NAME (default: default);
                                        idempotent; prints the inventory path as last line
  lab.sh down [--fleet NAME | --all]    stop a fleet (or every fleet) and remove all its traces
  lab.sh exec NAME HOST -- CMD...       run CMD as root inside HOST (no SSH)
  lab.sh stranger NAME -- CMD...        run CMD in the fleet's stranger namespace
  lab.sh reboot NAME HOST               power-cycle HOST (firewall/xt_recent state is lost)
  lab.sh stop-sshd NAME HOST            stop HOST's sshd (open sessions survive)
  lab.sh link NAME HOST down|up         cut or restore HOST's network cable
  lab.sh status                         list fleets and their hosts
  lab.sh --help

KIND (the fleet keeps the kind it was started with):
  --os bookworm|trixie                  Debian 12 (default) or 13
  --init sysv|systemd                   the lab's sysvinit emulation (default), or systemd as
                                        PID 1 under systemd-nspawn
  --flavour default|bare|nftables|ufw   provider images (need --init systemd): bare = no
                                        iptables; nftables = nftables.service enabled with
                                        Debian's /etc/nftables.conf; ufw = ufw enabled, SSH
                                        allowed; default = iptables installed, nothing else

Addresses of fleet K (1..200): controller (bridge slbrK) 198.19.K.1 and fd5e:5a3e:0:K::1;
host hI (1..200) 198.19.K.(10+I) and fd5e:5a3e:0:K::(10+I), the decimal digits of 10+I written
as the last IPv6 group (h1 -> ::11, h89 -> ::99, h90 -> ::100); stranger 198.19.K.254 and
fd5e:5a3e:0:K::fe.

Environment: SESAME_LAB_CACHE (default /var/cache/sesame-lab), SESAME_LAB_STATE (default
/var/lib/sesame-lab), SESAME_LAB_MIRROR (Debian mirror URI; default: read from this machine's
apt sources), SESAME_LAB_SSH_WAIT (seconds, default 60).
EOF
}

need_root() { [[ $EUID -eq 0 ]] || die "the lab needs root (namespaces, mounts, bridges)"; }

valid_fleet() {
    [[ $1 =~ ^[A-Za-z0-9_.-]{1,64}$ && $1 != . && $1 != .. ]] ||
        die "bad fleet name '$1' (use 1-64 of A-Z a-z 0-9 _ . -)"
}

valid_host() { [[ $1 =~ ^h([1-9][0-9]*)$ ]] && ((BASH_REMATCH[1] <= MAX_HOSTS)) || die "bad host name '$1' (h1..h$MAX_HOSTS)"; }

OSES=(bookworm trixie)
INITS=(sysv systemd)
FLAVOURS=(default bare nftables ufw)

# Reads --os/--init/--flavour (also as --x=V) into OS, INIT, FLAVOUR; other words go to REST.
parse_kind() {
    REST=()
    local opt val
    while (($#)); do
        case $1 in
        --os | --init | --flavour)
            opt=${1#--}
            val=${2:?$1 needs a value}
            shift 2
            ;;
        --os=* | --init=* | --flavour=*)
            opt=${1%%=*}
            opt=${opt#--}
            val=${1#*=}
            shift
            ;;
        *)
            REST+=("$1")
            shift
            continue
            ;;
        esac
        case $opt in
        os) OS=$val ;;
        init) INIT=$val ;;
        flavour) FLAVOUR=$val ;;
        esac
    done
    [[ " ${OSES[*]} " == *" $OS "* ]] || die "unknown --os '$OS' (one of: ${OSES[*]})"
    [[ " ${INITS[*]} " == *" $INIT "* ]] || die "unknown --init '$INIT' (one of: ${INITS[*]})"
    [[ " ${FLAVOURS[*]} " == *" $FLAVOUR "* ]] || die "unknown --flavour '$FLAVOUR' (one of: ${FLAVOURS[*]})"
    # Provider images boot systemd, as the providers' do (and nftables has no sysv script).
    [[ $FLAVOUR == default || $INIT == systemd ]] ||
        die "--flavour $FLAVOUR needs --init systemd (provider images run systemd)"
}

# ---------------------------------------------------------------------------------------------
# Image, repository and key
# ---------------------------------------------------------------------------------------------

# The Debian mirror this machine already uses (deb822 sources first, then sources.list), so no
# host name is ever written into the project. A source for $OS itself is preferred; otherwise
# the source of this machine's own release is used: one Debian archive serves every release.
debian_mirror() {
    if [[ -n ${SESAME_LAB_MIRROR:-} ]]; then
        echo "$SESAME_LAB_MIRROR"
        return
    fi
    local own suite uri
    own=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    for suite in "$OS" $own; do
        uri=$(mirror_for_suite "$suite")
        if [[ -n $uri ]]; then
            echo "$uri"
            return
        fi
    done
    die "no Debian '$OS' (or '$own') mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list (set SESAME_LAB_MIRROR)"
}

mirror_for_suite() {
    local suite=$1 f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        uri=$(awk -v suite="$suite" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; suites = ""; types = ""; enabled = 1
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    key = tolower(line); sub(/:.*/, "", key)
                    val = line; sub(/^[^:]*:[ \t]*/, "", val)
                    if (key == "uris") uris = val
                    else if (key == "suites") suites = val
                    else if (key == "types") types = val
                    else if (key == "enabled" && tolower(val) ~ /^no/) enabled = 0
                }
                if (enabled && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " suite " ")) {
                    split(uris, u, /[ \t]+/); print u[1]; exit
                }
            }' "$f")
        if [[ -n $uri ]]; then
            echo "$uri"
            return
        fi
    done
    if [[ -r /etc/apt/sources.list ]]; then
        sed -e 's/\[[^]]*\]//' /etc/apt/sources.list |
            awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }'
    fi
}

# PID 1 of every lab host. Kept as a function so its text is part of the recipe hash.
host_init_script() {
    cat <<'INIT'
#!/bin/bash
# sesame-lab-init: PID 1 of a sesame lab host. Emulates a sysvinit boot of Debian (rcS then
# runlevel 2), makes sure sshd runs, then reaps orphans forever. There is no systemd in the lab.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8
exec </dev/null
umask 022
h=$(hostname)
echo "$h" >/etc/hostname
if ! grep -q "[[:space:]]$h\$" /etc/hosts; then
    sed -i '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts
    printf '127.0.1.1\t%s\n' "$h" >>/etc/hosts
fi
mkdir -p /run/lock /run/sshd /run/network
chmod 1777 /run/lock
ssh-keygen -A
# Scripts a real boot runs but that make no sense here: the kernel, clock, disks and consoles
# belong to the controller (see tests/lab/README.md).
skip='^(hwclock\.sh|udev|kmod|keyboard-setup\.sh|console-setup\.sh|checkroot\.sh|checkfs\.sh|checkroot-bootclean\.sh|mountall\.sh|mountall-bootclean\.sh|mountnfs\.sh|mountnfs-bootclean\.sh|mountdevsubfs\.sh|mountkernfs\.sh|mount-configfs|brightness|urandom|bootlogs|bootmisc\.sh|rmnologin|networking|ifupdown|resolvconf)$'
run_level() {
    local level=$1 s name
    for s in /etc/rc"$level".d/S*; do
        [[ -x $s ]] || continue
        name=${s##*/S[0-9][0-9]}
        if [[ $name =~ $skip ]]; then
            echo "sesame-lab-init: skip $s"
            continue
        fi
        echo "sesame-lab-init: $s start"
        RUNLEVEL=$level PREVLEVEL=N timeout 60 "$s" start || echo "sesame-lab-init: $s failed ($?)"
    done
}
# /sbin/runlevel (the lab's own) reads this, so invoke-rc.d in package scripts starts and stops
# services as on a sysvinit Debian instead of refusing for lack of an init system.
echo "unknown" >/run/sesame-lab-runlevel
run_level S
echo "N 2" >/run/sesame-lab-runlevel
run_level 2
if ! pgrep -x sshd >/dev/null; then
    echo "sesame-lab-init: no sshd after boot scripts, starting /usr/sbin/sshd"
    /usr/sbin/sshd
fi
echo "sesame-lab-init: $h up"
exec -a /sbin/sesame-lab-init python3 /usr/lib/sesame-lab/reap.py
INIT
}

# Everything done to a freshly debootstrapped tree ($1) to make it a lab host image.
configure_image() {
    local root=$1 pub=$2 u
    chroot "$root" useradd -m -s /bin/bash deploy
    chroot "$root" useradd -m -s /bin/bash ops
    echo "ops:$OPS_PASSWORD" | chroot "$root" chpasswd
    printf 'deploy ALL=(ALL:ALL) NOPASSWD: ALL\n' >"$root/etc/sudoers.d/deploy"
    printf 'ops ALL=(ALL:ALL) ALL\n' >"$root/etc/sudoers.d/ops"
    chmod 0440 "$root/etc/sudoers.d/deploy" "$root/etc/sudoers.d/ops"
    for u in root deploy ops; do
        local home=/home/$u
        [[ $u == root ]] && home=/root
        install -d -m 0700 "$root$home/.ssh"
        install -m 0600 "$pub" "$root$home/.ssh/authorized_keys"
        chroot "$root" chown -R "$u:$u" "$home/.ssh"
    done
    cat >"$root/etc/ssh/sshd_config.d/sesame-lab.conf" <<'EOF'
# sesame lab: root logs in with the lab key, passwords work for password-auth tests.
PermitRootLogin prohibit-password
PasswordAuthentication yes
UseDNS no
EOF
    rm -f "$root"/etc/ssh/ssh_host_*
    # A lab host starts with no package lists, like a stale real server, and only knows the
    # local repository bind-mounted at /srv/sesame-repo.
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/*
    mkdir -p "$root/var/lib/apt/lists/partial"
    rm -f "$root"/etc/apt/sources.list.d/*
    echo 'deb [trusted=yes] file:/srv/sesame-repo ./' >"$root/etc/apt/sources.list"
    mkdir -p "$root/srv/sesame-repo"
    # No name server: nothing in the lab resolves names, and queries must not leave the lab.
    printf '# sesame lab: no name server\n' >"$root/etc/resolv.conf"
    host_init_script >"$root/sbin/sesame-lab-init"
    chmod 0755 "$root/sbin/sesame-lab-init"
    mkdir -p "$root/usr/lib/sesame-lab"
    cat >"$root/usr/lib/sesame-lab/reap.py" <<'EOF'
# PID 1 of a sesame lab host after boot: reaps every orphan, ignores everything else.
import os, signal
def reap(*_):
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
signal.signal(signal.SIGCHLD, reap)
reap()
while True:
    signal.pause()
EOF
    # invoke-rc.d refuses to touch services unless /sbin/init exists and /sbin/runlevel answers;
    # the lab's init plays sysvinit for both.
    ln -sf sesame-lab-init "$root/sbin/init"
    cat >"$root/sbin/runlevel" <<'EOF'
#!/bin/sh
# sesame lab: the runlevel as sesame-lab-init recorded it ("N 2" once booted).
rl=$(cat /run/sesame-lab-runlevel 2>/dev/null) || rl=unknown
echo "$rl"
[ "$rl" != unknown ]
EOF
    chmod 0755 "$root/sbin/runlevel"
}

# What a systemd or provider image adds to the base image of its release, run inside the
# image being built (no network: packages come from the local repository, services are not
# started). Kept as a function so its text is part of the layer's recipe hash.
layer_script() {
    local init=$1 flavour=$2
    cat <<'EOF'
set -eu
export DEBIAN_FRONTEND=noninteractive PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
echo 'deb [trusted=yes] file:/srv/sesame-repo ./' >/etc/apt/sources.list
apt-get update -q >/dev/null
inst() { apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
EOF
    if [[ $init == systemd ]]; then
        cat <<'EOF'
inst systemd-sysv dbus
# No consoles in a lab host; the daily apt/dpkg jobs would take the dpkg lock under a test.
systemctl mask console-getty.service apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer >/dev/null 2>&1
# A login under nspawn can stall for seconds while pam_systemd starts user@.service.
[ ! -f /etc/pam.d/common-session ] || sed -i '/pam_systemd\.so/d' /etc/pam.d/common-session
systemctl mask user@.service >/dev/null 2>&1
systemctl enable ssh.service >/dev/null 2>&1
# Each host makes its own machine id at boot.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
EOF
    fi
    case $flavour in
    bare)
        # Like Debian's cloud images: no iptables until someone installs it.
        echo 'apt-get purge -y -q iptables >/dev/null && apt-get autoremove --purge -y -q >/dev/null'
        ;;
    nftables)
        # Debian's default /etc/nftables.conf (it starts with `flush ruleset`), loaded at boot.
        echo 'inst nftables && systemctl enable nftables.service >/dev/null 2>&1'
        ;;
    ufw)
        # Enabled at boot, SSH allowed, as a provider ships it (built in a private netns: the
        # build never touches this machine's firewall).
        cat <<'EOF'
inst ufw
ufw allow 22/tcp >/dev/null
sed -i 's/^ENABLED=.*/ENABLED=yes/' /etc/ufw/ufw.conf
systemctl enable ufw.service >/dev/null 2>&1
EOF
        ;;
    esac
    cat <<'EOF'
apt-get clean
rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d
mkdir -p /var/lib/apt/lists/partial
EOF
}

recipe_hash() {
    {
        declare -p OS IMAGE_INCLUDE REPO_PACKAGES OPS_PASSWORD
        declare -f configure_image host_init_script build_repo
        cat "$CACHE/id_ed25519.pub"
    } | sha256sum | cut -c1-16
}

# The layer of INIT/FLAVOUR over the base image; "-" for sysv hosts of the default flavour.
layer_hash() {
    [[ $INIT == sysv && $FLAVOUR == default ]] && echo - && return
    {
        recipe_hash
        declare -p INIT FLAVOUR
        declare -f layer_script build_layer
    } | sha256sum | cut -c1-16
}

ensure_key() {
    if [[ ! -s $CACHE/id_ed25519 || ! -s $CACHE/id_ed25519.pub ]]; then
        rm -f "$CACHE/id_ed25519" "$CACHE/id_ed25519.pub"
        ssh-keygen -q -t ed25519 -N '' -C sesame-lab -f "$CACHE/id_ed25519"
        log "generated lab key $CACHE/id_ed25519"
    fi
}

# The flat apt repository: the dependency closure of REPO_PACKAGES, resolved and downloaded
# inside the freshly debootstrapped $root (with its own release's lists from the mirror), so
# each release's repository holds that release's packages.
build_repo() {
    local root=$1 dir=$2 names
    names=$(chroot "$root" apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "${REPO_PACKAGES[@]}" |
        grep -E '^[a-z0-9][a-z0-9+.-]*$' | sort -u)
    rm -rf "$root/tmp/sesame-repo"
    mkdir -p "$root/tmp/sesame-repo"
    # shellcheck disable=SC2086
    chroot "$root" sh -c 'cd /tmp/sesame-repo && apt-get download -q -o APT::Sandbox::User=root "$@"' sh $names >&2
    mv "$root/tmp/sesame-repo" "$dir"
    (cd "$dir" && dpkg-scanpackages . >Packages 2>/dev/null && gzip -9c Packages >Packages.gz)
    log "repo: $(ls "$dir"/*.deb | wc -l) packages, $(du -sh "$dir" | cut -f1)"
}

# Builds the layer upper dir $3 over base rootfs $1 with repository $2, in private mount and
# network namespaces (nothing the packages' scripts do reaches this machine's network).
build_layer() {
    local base=$1 repo=$2 out=$3
    mkdir -p "$out/upper" "$out/work" "$out/mnt"
    layer_script "$INIT" "$FLAVOUR" >"$out/layer.sh"
    unshare --mount --net --fork --propagation private bash -c '
        set -e
        o=$1
        mount -t overlay overlay -o "lowerdir=$2,upperdir=$o/upper,workdir=$o/work" "$o/mnt"
        mkdir -p "$o/mnt/srv/sesame-repo"
        mount --bind "$3" "$o/mnt/srv/sesame-repo"
        mount -t proc proc "$o/mnt/proc"
        mount -t tmpfs tmpfs "$o/mnt/run"
        mount -t tmpfs tmpfs "$o/mnt/tmp"
        env -i PATH="$PATH" chroot "$o/mnt" /bin/sh -s <"$o/layer.sh"
    ' sh "$out" "$base" "$repo" >"$out/layer.log" 2>&1 || {
        tail -n 20 "$out/layer.log" >&2
        die "layer $INIT/$FLAVOUR failed, see $out/layer.log"
    }
    rm -rf "$out/work" "$out/mnt"
}

# Builds (once) the key, the base image of $OS and its repository, and the layer of
# $INIT/$FLAVOUR; sets IMAGE (base dir) and LAYER (layer dir, or empty). Serialized by a lock so
# parallel tests build each once; a crashed build leaves only .build-* dirs that are never
# trusted and are removed by the next build.
ensure_image() {
    mkdir -p "$CACHE/images"
    local lh
    if [[ -s $CACHE/id_ed25519.pub ]]; then
        # Built already: no lock, so starting fleets never waits for another kind's build.
        IMAGE=$CACHE/images/$(recipe_hash)
        lh=$(layer_hash)
        LAYER=
        [[ $lh == - ]] || LAYER=$IMAGE/layers/$INIT-$FLAVOUR-$lh
        [[ -f $IMAGE/complete && ( -z $LAYER || -f $LAYER/complete ) ]] && return 0
    fi
    exec 8>"$CACHE/.image.lock"
    flock 8
    ensure_key
    local dir tmp mirror t0 t1
    dir=$CACHE/images/$(recipe_hash)
    if [[ ! -f $dir/complete ]]; then
        rm -rf "$CACHE"/images/.build-*
        tmp=$CACHE/images/.build-$(basename "$dir")
        mkdir -p "$tmp"
        mirror=$(debian_mirror)
        log "building image $(basename "$dir") (debootstrap $OS, takes a few minutes)"
        t0=$(date +%s)
        debootstrap --variant=minbase --include="$IMAGE_INCLUDE" "$OS" "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
            die "debootstrap failed, see $tmp/debootstrap.log"
        t1=$(date +%s)
        log "debootstrap $OS in $((t1 - t0))s"
        cp /etc/resolv.conf "$tmp/rootfs/etc/resolv.conf"
        build_repo "$tmp/rootfs" "$tmp/repo"
        log "repo built in $(($(date +%s) - t1))s"
        configure_image "$tmp/rootfs" "$CACHE/id_ed25519.pub"
        echo "$OS $(date -u +%FT%TZ)" >"$tmp/complete"
        rm -rf "$dir"
        mv "$tmp" "$dir"
        prune_images "$dir"
    fi
    IMAGE=$dir
    LAYER=
    lh=$(layer_hash)
    if [[ $lh != - ]]; then
        LAYER=$dir/layers/$INIT-$FLAVOUR-$lh
        if [[ ! -f $LAYER/complete ]]; then
            rm -rf "$dir"/layers/.build-*
            tmp=$dir/layers/.build-$INIT-$FLAVOUR-$lh
            log "building layer $INIT/$FLAVOUR over $OS image $(basename "$dir")"
            t0=$EPOCHREALTIME
            build_layer "$dir/rootfs" "$dir/repo" "$tmp"
            echo "$OS $INIT $FLAVOUR $(date -u +%FT%TZ)" >"$tmp/complete"
            rm -rf "$LAYER"
            mv "$tmp" "$LAYER"
            log "layer $INIT/$FLAVOUR built in $(elapsed "$t0")s"
        fi
    fi
    exec 8>&-
}

# `lab.sh image [--os OS] [--init INIT] [--flavour F]`: prints the base image dir, then the
# layer dir if the kind has one.
cmd_image() {
    need_root
    parse_kind "$@"
    ((${#REST[@]} == 0)) || die "usage: lab.sh image [--os OS] [--init INIT] [--flavour FLAVOUR]"
    ensure_image
    echo "$IMAGE"
    [[ -z $LAYER ]] || echo "$LAYER"
}

# Removes images no fleet uses any more (a fleet keeps the image it was started on) and that
# are a day old: another checkout with another recipe may be about to start hosts on a newer one.
prune_images() {
    local keep=$1 d f used
    for d in "$CACHE"/images/*/; do
        d=${d%/}
        [[ $d == "$keep" ]] && continue
        [[ -n $(find "$d/complete" -mmin +1440 2>/dev/null) ]] || continue
        used=
        for f in "$FLEETS"/*/image; do
            [[ -f $f && $(cat "$f") == "$d" ]] && used=1
        done
        if [[ -z $used ]]; then
            log "removing old image $d"
            rm -rf "$d"
        fi
    done
    return 0
}

# ---------------------------------------------------------------------------------------------
# Fleets
# ---------------------------------------------------------------------------------------------

fleet_dir() { echo "$FLEETS/$1"; }
fleet_index() {
    local f
    f=$(fleet_dir "$1")/index
    [[ -s $f ]] || die "no fleet '$1' (see lab.sh status)"
    cat "$f"
}
host_num() { echo "${1#h}"; }
host_ns() { echo "sl$1-h$2"; }
host_ip() { echo "198.19.$1.$((10 + $2))"; }
host_ip6() { echo "fd5e:5a3e:0:$1::$((10 + $2))"; }

# Gives a fleet an index K (its /24) under a global lock; reuses the one it has.
allocate_index() {
    local name=$1 dir k f used
    dir=$(fleet_dir "$name")
    mkdir -p "$FLEETS"
    exec 7>"$STATE/.alloc.lock"
    flock 7
    if [[ -s $dir/index ]]; then
        exec 7>&-
        cat "$dir/index"
        return
    fi
    for ((k = 1; k <= MAX_FLEETS; k++)); do
        used=
        for f in "$FLEETS"/*/index; do
            [[ -f $f && $(cat "$f") == "$k" ]] && used=1 && break
        done
        [[ -n $used ]] && continue
        # Leftovers of a fleet whose directory vanished: `down --all` clears them.
        [[ -e /sys/class/net/slbr$k || -e /run/netns/sl$k-stranger ]] && continue
        mkdir -p "$dir"
        echo "$k" >"$dir/index.tmp"
        mv "$dir/index.tmp" "$dir/index"
        exec 7>&-
        echo "$k"
        return
    done
    exec 7>&-
    die "all $MAX_FLEETS fleet indexes are in use (lab.sh down --all?)"
}

# Per-fleet lock for up/down/reboot; lock files live outside the fleet dir so down can remove it.
# `down` waits only briefly: the holder may be a stray process of the very fleet it is about to
# kill (older lab.sh versions leaked the lock into hosts), and tearing down twice is harmless.
lock_fleet() {
    local name=$1 wait=${2:-600}
    mkdir -p "$STATE/locks"
    exec 6>"$STATE/locks/$name.lock"
    if ! flock -w "$wait" 6; then
        [[ $wait -lt 600 ]] || die "fleet $name is locked by another lab.sh for ${wait}s"
        log "fleet $name is locked by another process; going on anyway"
    fi
}

ensure_bridge() {
    local k=$1 br=slbr$1
    if [[ ! -e /sys/class/net/$br ]]; then
        ip link add "$br" type bridge
        # The lab is a closed segment: no IPv6 router solicitations from the controller side.
        echo 0 >"/proc/sys/net/ipv6/conf/$br/accept_ra" 2>/dev/null || true
    fi
    ip addr replace "198.19.$k.1/24" dev "$br"
    ip -6 addr replace "fd5e:5a3e:0:$k::1/64" dev "$br" nodad
    ip link set "$br" up
}

# A namespace with one veth (root end RVETH on the bridge, inner end ens3) and addresses.
make_netns() {
    local k=$1 ns=$2 rveth=$3 ip=$4 ip6=$5
    ip -batch - <<EOF
netns add $ns
link add $rveth type veth peer name ens3 netns $ns
link set $rveth master slbr$k up
EOF
    # A rebooted host has a new MAC: forget the old one now rather than after the neighbour
    # cache times out (half a minute of lost SYNs otherwise).
    ip -batch - <<EOF 2>/dev/null || true
neigh flush to $ip dev slbr$k
neigh flush to $ip6 dev slbr$k
EOF
    # The stranger's cache too: with the old MAC its SYNs went nowhere for ~15 s after a reboot,
    # so a gate looked shut to it whatever the firewall said.
    if [[ $ns != "sl$k-stranger" && -e /run/netns/sl$k-stranger ]]; then
        ip -n "sl$k-stranger" -batch - <<EOF 2>/dev/null || true
neigh flush to $ip
neigh flush to $ip6
EOF
    fi
}

# Runs inside a lab namespace: addresses, routes (no gateway: nothing leaves the lab), link up.
inner_net_config() {
    local ip=$1 ip6=$2
    # Announce our MAC when the link comes up, as a booting server does.
    echo 1 >/proc/sys/net/ipv4/conf/ens3/arp_notify
    echo 1 >/proc/sys/net/ipv6/conf/ens3/ndisc_notify
    ip -batch - <<EOF
link set lo up
addr add $ip/24 dev ens3
addr add $ip6/64 dev ens3 nodad
link set ens3 up
route add default dev ens3
route add ::/0 dev ens3
EOF
}

ensure_stranger() {
    local k=$1 ns=sl$1-stranger
    if [[ ! -e /run/netns/$ns ]]; then
        make_netns "$k" "$ns" "sl$k-s" "198.19.$k.254" "fd5e:5a3e:0:$k::fe"
        ip netns exec "$ns" bash "$LAB_SCRIPT" __netcfg "198.19.$k.254" "fd5e:5a3e:0:$k::fe"
    fi
}

# Root-namespace PID of a host's PID 1, if it is running (checked against its netns, so a stale
# pid file never points at an unrelated process).
host_pid() {
    local fdir=$1 k=$2 i=$3 pid
    pid=$(cat "$fdir/hosts/h$i/pid" 2>/dev/null) || return 1
    [[ -n $pid && -d /proc/$pid ]] || return 1
    [[ $(ip netns identify "$pid" 2>/dev/null) == "$(host_ns "$k" "$i")" ]] || return 1
    echo "$pid"
}

# PIDs of every process in the named network namespaces, from one scan of /proc.
ns_pids() {
    local ns files=() inodes
    for ns in "$@"; do
        [[ -e /run/netns/$ns ]] && files+=("/run/netns/$ns")
    done
    ((${#files[@]})) || return 0
    inodes=$(stat -L -c %i "${files[@]}" | tr '\n' ' ')
    # find complains (and fails) about processes that exit during the scan: that is fine.
    { find /proc/[0-9]*/ns/net -maxdepth 0 -printf '%p %l\n' 2>/dev/null || true; } |
        awk -v want=" $inodes" '{
            ino = $2; gsub(/[^0-9]/, "", ino)
            if (index(want, " " ino " ")) { split($1, p, "/"); print p[3] }
        }'
}

# PIDs of the processes that boot systemd hosts of the named namespaces: unshare and
# systemd-nspawn run in this machine's network namespace (nspawn needs its cgroup mounts, which
# `ip netns exec` hides), recognised by the namespace name among their arguments and by this
# state dir's fleets in them: another lab state (selftest-down-all.sh's, run next to the tests)
# reuses fleet indices, so the same namespace names, and must not kill these hosts.
boot_pids() {
    local p c args ns
    for p in /proc/[0-9]*; do
        { read -r c <"$p/comm"; } 2>/dev/null || continue
        [[ $c == unshare || $c == systemd-nspawn ]] || continue
        args=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
        [[ $args == *"$FLEETS/"* ]] || continue
        for ns in "$@"; do
            if [[ " $args " == *" $ns "* || " $args " == *" --machine=$ns "* ]]; then
                echo "${p#/proc/}"
                break
            fi
        done
    done
}

# Kills every process of the namespaces (a host's PID 1 takes its whole PID namespace with it),
# and what boots them.
kill_ns() {
    local pids n
    for ((n = 0; n < 100; n++)); do
        pids=$(boot_pids "$@"; ns_pids "$@")
        [[ -z $pids ]] && return 0
        kill -KILL $pids 2>/dev/null || true
        sleep 0.05
    done
    die "processes in namespaces $* survive SIGKILL: $(boot_pids "$@"; ns_pids "$@" | tr '\n' ' ')"
}

delete_ns() {
    local ns=$1 rveth=$2
    kill_ns "$ns"
    [[ -e /run/netns/$ns ]] && ip netns del "$ns"
    # A netns is destroyed asynchronously, taking the veth pair with it: wait for that (or
    # delete the root end ourselves) so a new pair of the same name can be made.
    local n
    for ((n = 0; n < 100; n++)); do
        [[ -e /sys/class/net/$rveth ]] || return 0
        ip link del "$rveth" 2>/dev/null || true
        sleep 0.05
    done
    die "link $rveth cannot be deleted"
}

# RSA host keys take ~0.4 s of CPU each, which made `up 20` take 10 s on two cores. So hosts
# get their RSA key from a pool generated once per machine (one key per host number: hosts of
# one fleet never share a key), and generate their own ed25519 and ECDSA keys at first boot
# (`ssh-keygen -A` in the host's init fills in what is missing).
ensure_rsa_pool() {
    local n=$1 dir=$CACHE/hostkeys i missing=()
    mkdir -p "$dir"
    exec 5>"$CACHE/.hostkeys.lock"
    flock 5
    for ((i = 1; i <= n; i++)); do
        [[ -s $dir/rsa-$i && -s $dir/rsa-$i.pub ]] || missing+=("$i")
    done
    if ((${#missing[@]})); then
        log "generating ${#missing[@]} RSA host key(s) for the pool (once per machine)"
        printf '%s\n' "${missing[@]}" | xargs -P 2 -I{} sh -c '
            rm -f "$1/rsa-$2.tmp" "$1/rsa-$2.tmp.pub"
            ssh-keygen -q -t rsa -b 3072 -N "" -C "root@h$2" -f "$1/rsa-$2.tmp" &&
                mv "$1/rsa-$2.tmp.pub" "$1/rsa-$2.pub" && mv "$1/rsa-$2.tmp" "$1/rsa-$2"' sh "$dir" {}
    fi
    exec 5>&-
}

seed_rsa_host_key() {
    local hdir=$1 i=$2 ssh
    ssh=$hdir/upper/etc/ssh
    [[ -e $ssh/ssh_host_rsa_key ]] && return 0
    install -d -m 0755 "$hdir/upper/etc" "$ssh"
    install -m 0600 "$CACHE/hostkeys/rsa-$i" "$ssh/ssh_host_rsa_key"
    install -m 0644 "$CACHE/hostkeys/rsa-$i.pub" "$ssh/ssh_host_rsa_key.pub"
}

# Starts host I of fleet K on its (persistent) upper dir, in the background: with the lab's
# init emulation (sysv) or with systemd under systemd-nspawn (systemd).
start_host() {
    local name=$1 k=$2 i=$3 image=$4 layer=$5 init=$6 fdir hdir ns upid ip ip6 lower
    fdir=$(fleet_dir "$name")
    hdir=$fdir/hosts/h$i
    ns=$(host_ns "$k" "$i")
    delete_ns "$ns" "$ns"
    mkdir -p "$hdir/upper" "$hdir/work" "$hdir/root"
    rm -f "$hdir/pid"
    ip=$(host_ip "$k" "$i")
    ip6=$(host_ip6 "$k" "$i")
    make_netns "$k" "$ns" "$ns" "$ip" "$ip6"
    seed_rsa_host_key "$hdir" "$i"
    lower=$image/rootfs
    [[ -z $layer ]] || lower=$layer/upper:$lower
    # setsid + redirections: nothing of the host keeps the caller's terminal or pipes open.
    if [[ $init == systemd ]]; then
        ip netns exec "$ns" bash "$LAB_SCRIPT" __netcfg "$ip" "$ip6"
        setsid unshare --mount --fork --kill-child --propagation private \
            bash "$LAB_SCRIPT" __boot_nspawn "$hdir" "h$i" "$lower" "$image/repo" "$ip" "$ip6" "$ns" \
            </dev/null >>"$hdir/console.log" 2>&1 5>&- 6>&- 7>&- 8>&- &
    else
        setsid ip netns exec "$ns" unshare --mount --pid --uts --fork --kill-child --propagation private \
            bash "$LAB_SCRIPT" __boot "$hdir" "h$i" "$lower" "$image/repo" "$ip" "$ip6" \
            </dev/null >>"$hdir/console.log" 2>&1 5>&- 6>&- 7>&- 8>&- &
    fi
    upid=$!
    echo "$upid" >"$hdir/unshare.pid"
}

# The first descendant of PID $1 that is PID 1 of its own PID namespace (a host's init), if any.
pid1_below() {
    local todo=("$1") p c ns
    while ((${#todo[@]})); do
        p=${todo[0]}
        todo=("${todo[@]:1}")
        for c in $(cat "/proc/$p/task/$p/children" 2>/dev/null || true); do
            ns=$(awk '$1 == "NSpid:" { print NF - 1, $NF }' "/proc/$c/status" 2>/dev/null || true)
            if [[ $ns == [2-9]" 1" ]]; then
                echo "$c"
                return 0
            fi
            todo+=("$c")
        done
    done
    return 1
}

# Records the root-namespace PID of each started host's PID 1.
record_pids() {
    local fdir=$1 i upid pid n
    shift
    for i in "$@"; do
        upid=$(cat "$fdir/hosts/h$i/unshare.pid")
        pid=
        for ((n = 0; n < 500; n++)); do
            pid=$(pid1_below "$upid") && break
            [[ -d /proc/$upid ]] || break
            sleep 0.02
        done
        [[ -n $pid ]] || die "host h$i did not start: see $fdir/hosts/h$i/console.log"
        echo "$pid" >"$fdir/hosts/h$i/pid"
    done
}

# Waits until each listed host's sshd accepts TCP connections on port 22 and its host keys exist.
wait_ssh() {
    local fdir=$1 k=$2 deadline i pending left ok pids
    shift 2
    pending=("$@")
    ok=$(mktemp)
    deadline=$((SECONDS + SSH_WAIT + ${#pending[@]}))
    while ((${#pending[@]})); do
        # Probe all pending hosts at once: a host still booting costs one timeout, not one each.
        : >"$ok"
        pids=()
        for i in "${pending[@]}"; do
            [[ -s $fdir/hosts/h$i/upper/etc/ssh/ssh_host_ed25519_key.pub ]] || continue
            # A hardened host drops the controller's SYN: a listening sshd inside counts too.
            { { timeout 2 bash -c ": </dev/tcp/$(host_ip "$k" "$i")/22" 2>/dev/null ||
                ip netns exec "$(host_ns "$k" "$i")" ss -Hltn 'sport = :22' 2>/dev/null | grep -q .; } &&
                echo "$i" >>"$ok"; } &
            pids+=($!)
        done
        ((${#pids[@]})) && wait "${pids[@]}" || true
        left=()
        for i in "${pending[@]}"; do
            grep -qx "$i" "$ok" && continue
            if ! host_pid "$fdir" "$k" "$i" >/dev/null; then
                tail -n 30 "$fdir/hosts/h$i/console.log" >&2 || true
                rm -f "$ok"
                die "host h$i ($(host_ip "$k" "$i")) died while booting; console log above"
            fi
            left+=("$i")
        done
        pending=("${left[@]}")
        ((${#pending[@]})) || break
        if ((SECONDS > deadline)); then
            for i in "${pending[@]}"; do
                log "h$i ($(host_ip "$k" "$i")): sshd not accepting on port 22; console log:"
                tail -n 20 "$fdir/hosts/h$i/console.log" >&2 || true
            done
            rm -f "$ok"
            die "sshd did not come up within ${SSH_WAIT}s on: $(printf 'h%s ' "${pending[@]}")"
        fi
        sleep 0.2
    done
    rm -f "$ok"
}

write_inventory() {
    local name=$1 k=$2 n=$3 fdir i f kt
    fdir=$(fleet_dir "$name")
    : >"$fdir/known_hosts.tmp"
    for ((i = 1; i <= n; i++)); do
        # Every host key type sshd offers, so any client (OpenSSH, libssh2) can verify strictly.
        for kt in ed25519 ecdsa rsa; do
            f=$fdir/hosts/h$i/upper/etc/ssh/ssh_host_${kt}_key.pub
            [[ -s $f ]] || continue
            printf '%s %s\n' "$(host_ip "$k" "$i")" "$(cut -d' ' -f1,2 "$f")" >>"$fdir/known_hosts.tmp"
            printf '%s %s\n' "$(host_ip6 "$k" "$i")" "$(cut -d' ' -f1,2 "$f")" >>"$fdir/known_hosts.tmp"
        done
    done
    mv "$fdir/known_hosts.tmp" "$fdir/known_hosts"
    {
        echo "[lab]"
        for ((i = 1; i <= n; i++)); do
            echo "h$i ansible_host=$(host_ip "$k" "$i") lab_ipv6=$(host_ip6 "$k" "$i")"
        done
        echo
        echo "[lab:vars]"
        echo "ansible_user=root"
        echo "ansible_ssh_private_key_file=$CACHE/id_ed25519"
        echo "ansible_ssh_common_args='-o UserKnownHostsFile=$fdir/known_hosts -o StrictHostKeyChecking=yes'"
        echo "lab_fleet=$name"
        echo "lab_controller=198.19.$k.1"
        echo "lab_stranger=198.19.$k.254"
        echo "lab_os=$OS"
        echo "lab_init=$INIT"
        echo "lab_flavour=$FLAVOUR"
    } >"$fdir/inventory.ini.tmp"
    mv "$fdir/inventory.ini.tmp" "$fdir/inventory.ini"
}

fleet_size() {
    local fdir=$1
    cat "$fdir/size" 2>/dev/null || echo 0
}

cmd_up() {
    local n='' name=default
    parse_kind "$@"
    set -- "${REST[@]}"
    while (($#)); do
        case $1 in
        --fleet)
            name=${2:?--fleet needs a name}
            shift 2
            ;;
        --fleet=*)
            name=${1#--fleet=}
            shift
            ;;
        *)
            [[ -z $n && $1 =~ ^[0-9]+$ ]] || die "usage: lab.sh up N [--fleet NAME] [--os OS] [--init INIT] [--flavour FLAVOUR]"
            n=$1
            shift
            ;;
        esac
    done
    [[ -n $n ]] && ((n >= 1 && n <= MAX_HOSTS)) || die "usage: lab.sh up N [--fleet NAME] (1 <= N <= $MAX_HOSTS)"
    valid_fleet "$name"
    need_root
    local k fdir size i started=() kind
    fdir=$(fleet_dir "$name")
    lock_fleet "$name"
    kind="$OS $INIT $FLAVOUR"
    if [[ -s $fdir/kind && $(cat "$fdir/kind") != "$kind" ]]; then
        die "fleet $name runs $(cat "$fdir/kind" | tr ' ' /), not ${kind// //}: take it down first"
    fi
    if [[ -s $fdir/kind && -f $(cat "$fdir/image")/complete ]] &&
        { [[ ! -s $fdir/layer ]] || [[ -f $(cat "$fdir/layer")/complete ]]; }; then
        IMAGE=$(cat "$fdir/image")
        LAYER=$(cat "$fdir/layer" 2>/dev/null || true)
    else
        ensure_image
    fi
    k=$(allocate_index "$name")
    echo "$IMAGE" >"$fdir/image"
    echo "$LAYER" >"$fdir/layer"
    echo "$kind" >"$fdir/kind"
    size=$(fleet_size "$fdir")
    ((n > size)) && size=$n
    echo "$size" >"$fdir/size"
    local t0=$EPOCHREALTIME
    ensure_rsa_pool "$size"
    ensure_bridge "$k"
    ensure_stranger "$k"
    for ((i = 1; i <= size; i++)); do
        if host_pid "$fdir" "$k" "$i" >/dev/null; then
            continue
        fi
        start_host "$name" "$k" "$i" "$IMAGE" "$LAYER" "$INIT"
        started+=("$i")
    done
    if ((${#started[@]})); then
        log "fleet $name (198.19.$k.0/24, ${kind// //}): started ${#started[@]} host(s) in $(elapsed "$t0")s"
        record_pids "$fdir" "${started[@]}"
    fi
    wait_ssh "$fdir" "$k" $(seq 1 "$size")
    write_inventory "$name" "$k" "$size"
    log "fleet $name: $size host(s) up, sshd answering, after $(elapsed "$t0")s"
    echo "$fdir/inventory.ini"
}

# The kind of a fleet's hosts: sets OS, INIT and FLAVOUR from its record.
fleet_kind() {
    local fdir=$1
    read -r OS INIT FLAVOUR <"$fdir/kind" 2>/dev/null || { OS=bookworm INIT=sysv FLAVOUR=default; }
}

# Tears down fleet index K: every namespace named after it, its veths and bridge.
teardown_index() {
    local k=$1 nss
    nss=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^sl$k-(h[0-9]+|stranger)\$" || true)
    if [[ -n $nss ]]; then
        kill_ns $nss
        printf 'netns del %s\n' $nss | ip -force -batch - 2>/dev/null || true
    fi
    local h c
    for h in "${CGROUP_TREES[@]}"; do
        for c in "$h"/sesame-lab/sl"$k"-h*; do
            [[ -d $c ]] && rm_cgroup "$c"
        done
    done
    local l n
    for ((n = 0; n < 100; n++)); do
        l=$(find /sys/class/net -mindepth 1 -maxdepth 1 -printf '%f\n' | grep -E "^(sl$k-(h[0-9]+|s)|slbr$k)\$" || true)
        [[ -z $l ]] && return 0
        for l in $l; do
            ip link del "$l" 2>/dev/null || true
        done
        sleep 0.05
    done
    die "links of fleet index $k cannot be deleted: $l"
}

down_fleet() {
    local name=$1 fdir k
    fdir=$(fleet_dir "$name")
    lock_fleet "$name" 10
    if [[ -s $fdir/index ]]; then
        k=$(cat "$fdir/index")
        teardown_index "$k"
    fi
    rm -rf "$fdir"
    exec 6>&-
    log "fleet $name: down"
}

cmd_down() {
    local name=default all=
    while (($#)); do
        case $1 in
        --fleet)
            name=${2:?--fleet needs a name}
            shift 2
            ;;
        --fleet=*)
            name=${1#--fleet=}
            shift
            ;;
        --all)
            all=1
            shift
            ;;
        *) die "usage: lab.sh down [--fleet NAME | --all]" ;;
        esac
    done
    need_root
    if [[ -z $all ]]; then
        valid_fleet "$name"
        down_fleet "$name"
        return
    fi
    local d k
    for d in "$FLEETS"/*/; do
        [[ -d $d ]] || continue
        down_fleet "$(basename "$d")"
    done
    # Orphans whose fleet directory is gone (a crash between steps): recognised by name.
    for k in $( (
        ip netns list 2>/dev/null | awk '{print $1}' | sed -nE 's/^sl([0-9]+)-(h[0-9]+|stranger)$/\1/p'
        find /sys/class/net -mindepth 1 -maxdepth 1 -printf '%f\n' |
            sed -nE 's/^slbr([0-9]+)$/\1/p; s/^sl([0-9]+)-(h[0-9]+|s)$/\1/p'
    ) | sort -un); do
        log "removing leftovers of fleet index $k"
        teardown_index "$k"
    done
    rm -f "$STATE"/locks/*.lock "$STATE/.alloc.lock"
}

# Internal: runs as PID 1 of a new PID namespace inside the host's netns and a private mount
# namespace; builds the host's root and execs its init.
cmd_boot() {
    local hdir=$1 host=$2 lower=$3 repo=$4 ip=$5 ip6=$6 root
    root=$hdir/root
    inner_net_config "$ip" "$ip6"
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$hdir/upper,workdir=$hdir/work" "$root"
    mount -t proc proc "$root/proc"
    # The kernel's knobs belong to the controller: only the host's own net.* stays writable.
    mount --bind "$root/proc/sys" "$root/proc/sys"
    mount --bind "$root/proc/sys/net" "$root/proc/sys/net"
    mount -o remount,bind,ro "$root/proc/sys"
    mount -t sysfs -o ro sysfs "$root/sys"
    mount -t tmpfs -o mode=0755,size=8m,nosuid tmpfs "$root/dev"
    mknod -m 0666 "$root/dev/null" c 1 3
    mknod -m 0666 "$root/dev/zero" c 1 5
    mknod -m 0666 "$root/dev/full" c 1 7
    mknod -m 0666 "$root/dev/random" c 1 8
    mknod -m 0666 "$root/dev/urandom" c 1 9
    mknod -m 0666 "$root/dev/tty" c 5 0
    mkdir -m 0755 "$root/dev/pts"
    mkdir -m 1777 "$root/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
    ln -s pts/ptmx "$root/dev/ptmx"
    ln -s /proc/self/fd "$root/dev/fd"
    ln -s /proc/self/fd/0 "$root/dev/stdin"
    ln -s /proc/self/fd/1 "$root/dev/stdout"
    ln -s /proc/self/fd/2 "$root/dev/stderr"
    mount -t tmpfs -o mode=1777,nosuid tmpfs "$root/dev/shm"
    mount -t tmpfs -o mode=0755,size=64m,nosuid,nodev tmpfs "$root/run"
    mkdir -p "$root/srv/sesame-repo"
    mount --bind "$repo" "$root/srv/sesame-repo"
    mount -o remount,bind,ro "$root/srv/sesame-repo"
    hostname "$host"
    cd "$root"
    exec env -i PATH="$HOST_PATH" TERM=dumb chroot "$root" /sbin/sesame-lab-init
}

# Where systemd hosts get their own cgroups (see cmd_boot_nspawn): the named systemd hierarchy
# of a cgroup-v1/hybrid machine and the unified one (at /sys/fs/cgroup on a cgroup-v2 machine).
CGROUP_TREES=()
for _t in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
    case $(stat -fc %T "$_t" 2>/dev/null) in cgroup2fs | cgroupfs) CGROUP_TREES+=("$_t") ;; esac
done
unset _t

# Removes a host's cgroup tree, deepest first. A killed host's last processes can still be
# leaving it (the kernel tears a PID namespace down after its PID 1 is gone, and a dying task
# stays in its cgroup until it has exited): processes found in it are killed and the removal is
# retried for up to 5 s; a cgroup still in use after that is named.
rm_cgroup() {
    local d=$1 n pids
    for ((n = 0; n < 100; n++)); do
        [[ -d $d ]] || return 0
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        [[ -d $d ]] || return 0
        pids=$(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
        if [[ -n $pids ]]; then
            kill -KILL $pids 2>/dev/null || true
        fi
        sleep 0.05
    done
    log "warning: cgroup $d still in use after 5 s: $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')"
}

# Internal: runs in a private mount namespace (the host's netns is configured already); builds
# the host's root and execs systemd-nspawn on it, systemd as its PID 1. This machine's PID 1 is not systemd, so
# the container is neither registered nor given a unit of its own.
cmd_boot_nspawn() {
    local hdir=$1 host=$2 lower=$3 repo=$4 ip=$5 ip6=$6 ns=$7 root
    root=$hdir/root
    mount -t overlay overlay -o "lowerdir=$lower,upperdir=$hdir/upper,workdir=$hdir/work" "$root"
    echo "$host" >"$root/etc/hostname"
    if ! grep -q "[[:space:]]$host\$" "$root/etc/hosts"; then
        sed -i '/^127\.0\.1\.1[[:space:]]/d' "$root/etc/hosts"
        printf '127.0.1.1\t%s\n' "$host" >>"$root/etc/hosts"
    fi
    # Debian's ssh.service does not make host keys: first boot gets them here.
    chroot "$root" ssh-keygen -A >/dev/null
    # A cgroup of its own in the hierarchies systemd tracks services with: nspawn (--keep-unit)
    # puts the host under the cgroup it is started in, and hosts sharing one would share their
    # services' cgroups (a unit of one host would never see its cgroup empty while another
    # host's unit of the same name runs).
    local h d
    for h in "${CGROUP_TREES[@]}"; do
        d=$h/sesame-lab/$ns
        rm_cgroup "$d"
        mkdir -p "$d"
        echo $$ >"$d/cgroup.procs"
    done
    exec systemd-nspawn --quiet --directory="$root" --boot --register=no --keep-unit \
        --machine="$ns" --hostname="$host" --network-namespace-path="/run/netns/$ns" \
        --capability=CAP_NET_ADMIN,CAP_NET_RAW --bind-ro="$repo:/srv/sesame-repo" \
        --link-journal=no --resolv-conf=off --timezone=off --console=read-only
}

# Resolves NAME HOST to PID 1 of a running host, or dies.
running_host() {
    local name=$1 host=$2 fdir k i pid
    valid_fleet "$name"
    valid_host "$host"
    fdir=$(fleet_dir "$name")
    k=$(fleet_index "$name")
    i=$(host_num "$host")
    pid=$(host_pid "$fdir" "$k" "$i") || die "host $host of fleet $name is not running"
    echo "$pid"
}

cmd_exec() {
    (($# >= 3)) && [[ $3 == -- ]] || die "usage: lab.sh exec NAME HOST -- CMD..."
    need_root
    local pid
    pid=$(running_host "$1" "$2")
    shift 3
    (($#)) || die "usage: lab.sh exec NAME HOST -- CMD..."
    exec nsenter -t "$pid" --net --mount --pid --uts --root --wd -- \
        env -i PATH="$HOST_PATH" HOME=/root USER=root LOGNAME=root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
}

cmd_stranger() {
    (($# >= 2)) && [[ $2 == -- ]] || die "usage: lab.sh stranger NAME -- CMD..."
    need_root
    local name=$1 k
    valid_fleet "$name"
    k=$(fleet_index "$name")
    shift 2
    (($#)) || die "usage: lab.sh stranger NAME -- CMD..."
    exec ip netns exec "sl$k-stranger" "$@"
}

cmd_reboot() {
    (($# == 2)) || die "usage: lab.sh reboot NAME HOST"
    need_root
    local name=$1 host=$2 fdir k i
    valid_fleet "$name"
    valid_host "$host"
    fdir=$(fleet_dir "$name")
    k=$(fleet_index "$name")
    i=$(host_num "$host")
    [[ -d $fdir/hosts/$host ]] || die "fleet $name has no host $host"
    lock_fleet "$name"
    log "rebooting $host of fleet $name"
    # start_host deletes the old netns first: firewall rules, xt_recent lists and conntrack go
    # with it, as on a real power cycle; the disk (upper dir) stays.
    fleet_kind "$fdir"
    start_host "$name" "$k" "$i" "$(cat "$fdir/image")" "$(cat "$fdir/layer" 2>/dev/null || true)" "$INIT"
    record_pids "$fdir" "$i"
    wait_ssh "$fdir" "$k" "$i"
    log "$host is back"
}

cmd_stop_sshd() {
    (($# == 2)) || die "usage: lab.sh stop-sshd NAME HOST"
    # Like `service ssh stop` on a real server: the listener goes, open sessions stay.
    cmd_exec "$1" "$2" -- sh -c 'if [ -d /run/systemd/system ]; then systemctl stop ssh.service >/dev/null 2>&1 || true
        else /etc/init.d/ssh stop >/dev/null 2>&1 || true; fi
        for n in 1 2 3 4 5 6 7 8 9 10; do
            ss -Hltn "sport = :22" | grep -q . || exit 0
            sleep 0.1
        done
        echo "sshd still listening" >&2; exit 1'
}

cmd_link() {
    (($# == 3)) && [[ $3 == up || $3 == down ]] || die "usage: lab.sh link NAME HOST down|up"
    need_root
    local k i
    running_host "$1" "$2" >/dev/null
    k=$(fleet_index "$1")
    i=$(host_num "$2")
    ip link set "$(host_ns "$k" "$i")" "$3"
}

cmd_status() {
    local d name k size i up
    printf '%-32s %-6s %-16s %-26s %s\n' FLEET INDEX NETWORK KIND HOSTS
    for d in "$FLEETS"/*/; do
        [[ -d $d ]] || continue
        name=$(basename "$d")
        k=$(cat "$d/index" 2>/dev/null || echo '?')
        size=$(fleet_size "$d")
        up=0
        for ((i = 1; i <= size; i++)); do
            host_pid "${d%/}" "$k" "$i" >/dev/null && up=$((up + 1))
        done
        fleet_kind "${d%/}"
        printf '%-32s %-6s %-16s %-26s %s/%s running\n' "$name" "$k" "198.19.$k.0/24" "$OS/$INIT/$FLAVOUR" "$up" "$size"
    done
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
    image) need_root && cmd_image "$@" ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    exec) cmd_exec "$@" ;;
    stranger) cmd_stranger "$@" ;;
    reboot) cmd_reboot "$@" ;;
    stop-sshd) cmd_stop_sshd "$@" ;;
    link) cmd_link "$@" ;;
    status) cmd_status "$@" ;;
    __boot) cmd_boot "$@" ;;
    __boot_nspawn) cmd_boot_nspawn "$@" ;;
    __netcfg) inner_net_config "$@" ;;
    -h | --help | help) usage ;;
    '') usage >&2 && exit 2 ;;
    *) die "unknown command '$cmd' (see lab.sh --help)" ;;
    esac
}

main "$@"

#!/usr/bin/env bash
# packaging/deb.sh [--dev [--bin PATH]] [--vendored] [-o DIR] — build the Debian package with cargo-deb
# (`cargo install cargo-deb --locked`). First the binary writes its own man pages and shell
# completions into target/assets/ (generated from the clap definitions), then cargo-deb packs
# them with the binary, the harden playbook and role (/usr/share/sesame/) and the docs
# (/usr/share/doc/sesame/), as [package.metadata.deb] in Cargo.toml lists.
#
#   --dev        package the debug binary (target/debug/sesame, built if needed) instead of a
#                release build: same package layout, minutes faster on a small machine.
#   --bin PATH   with --dev: package this prebuilt binary, build nothing (the lab test passes the
#                one cargo test built: cargo holds the build lock while tests run).
#   --vendored   build with OpenSSL compiled in (feature vendored-openssl): the package then
#                depends on libc6 and zlib1g only.
# Prints the path of the .deb as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
features=()
prebuilt=
out=target/debian
while [[ $# -gt 0 ]]; do
    case $1 in
        --dev) dev=1 ;;
        --bin) prebuilt=$2; shift ;;
        --vendored) features=(--features vendored-openssl) ;;
        -o) out=$2; shift ;;
        *) echo "usage: $0 [--dev [--bin PATH]] [--vendored] [-o DIR]" >&2; exit 2 ;;
    esac
    shift
done
command -v cargo-deb >/dev/null || {
    echo "cargo-deb not found: cargo install cargo-deb --locked" >&2
    exit 1
}
target=${CARGO_TARGET_DIR:-target}

if [[ $dev == 1 ]]; then
    if [[ -z $prebuilt ]]; then
        cargo build "${features[@]}" --bin sesame >&2
        prebuilt=$target/debug/sesame
    fi
    profile=deb-dev
    mkdir -p "$target/$profile"
    cp "$prebuilt" "$target/$profile/sesame"
else
    cargo build --release "${features[@]}" --bin sesame >&2
    profile=release
fi
bin=$target/$profile/sesame

assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$bin" man --dir "$assets/man" >/dev/null
gzip -9n "$assets"/man/*.1
"$bin" completions bash >"$assets/completions/sesame.bash"
"$bin" completions zsh >"$assets/completions/_sesame"
"$bin" completions fish >"$assets/completions/sesame.fish"

mkdir -p "$out"
# --strip: the dev profile keeps full debug info, which would make the package ~90 MB.
cargo deb --no-build --profile "$profile" --strip -o "$out" | tail -n 1

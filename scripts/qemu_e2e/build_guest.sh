#!/usr/bin/env bash
# Builds what the QEMU end-to-end test boots, from Debian packages, into a cache directory:
#   vmlinuz           Debian's kernel (the image behind linux-image-amd64), taken from the .deb
#                     with dpkg-deb -x: the host's own kernel and /boot are not touched
#   initramfs.cpio.gz busybox-static, /init (guest_init.sh), the virtio-net modules in dependency
#                     order, ethtool and ip with their libraries, vmtest (static)
#   vmtest            vmtest for the host side;  busybox  (host-side ping)
#   kernel.txt        the kernel package and version
# A build is keyed by the kernel package, its version and the inputs' contents, so a rerun with
# nothing changed reuses it (a second or so), and a new kernel or a changed /init builds anew.
#
#   scripts/qemu_e2e/build_guest.sh CACHE_DIR     prints the build's directory on its last line
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${1:?usage: build_guest.sh CACHE_DIR}
mkdir -p "$cache"

say() { echo "build_guest: $*" >&2; }

# The kernel package: PMDNET_E2E_KERNEL_PKG, else what linux-image-amd64 depends on.
kernel_pkg() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
kpkg=${PMDNET_E2E_KERNEL_PKG:-}
if [ -z "$kpkg" ]; then
  kpkg=$(kernel_pkg)
  if [ -z "$kpkg" ]; then
    say "apt has no package lists yet: apt-get update"
    apt-get update -qq >&2
    kpkg=$(kernel_pkg)
  fi
fi
[ -n "$kpkg" ] || { say "cannot resolve linux-image-amd64 to a kernel package"; exit 1; }
kver_pkg=$(apt-cache policy "$kpkg" | awk '/Candidate:/ { print $2 }')
bbver=$(apt-cache policy busybox-static | awk '/Candidate:/ { print $2 }')

inputs=$(cat "$here/build_guest.sh" "$here/guest_init.sh" "$here/vmtest.c" | sha256sum | cut -c1-12)
key="${kpkg}_${kver_pkg}_bb${bbver}_${inputs}"
key=${key//[^A-Za-z0-9._-]/_}
out=$cache/$key
if [ -f "$out/complete" ]; then
  say "cached: $out"
  echo "$out"
  exit 0
fi

say "building $out ($kpkg $kver_pkg, busybox-static $bbver)"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
download() {
  # -o APT::Sandbox::User=root: the download lands in a root-owned directory.
  (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$kpkg" busybox-static >&2)
}
if ! download; then
  say "apt-get download failed; apt-get update and once more"
  apt-get update -qq >&2
  download
fi
dpkg-deb -x "$tmp"/${kpkg}_*.deb "$tmp/kernel"
dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/busybox"
vmlinuz=$(ls "$tmp"/kernel/boot/vmlinuz-* | head -1)
kver=${vmlinuz##*/vmlinuz-}
moddir=$tmp/kernel/lib/modules/$kver
[ -d "$moddir" ] || { say "no modules for $kver in $kpkg"; exit 1; }

root=$tmp/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/sbin,etc,proc,sys,dev,tmp,run,lib/modules}
cp "$tmp/busybox/bin/busybox" "$root/bin/busybox"
cp "$here/guest_init.sh" "$root/init"
chmod 0755 "$root/init" "$root/bin/busybox"

# virtio_pci and virtio_net with everything they need, in load order. modules.dep comes from
# depmod over the extracted tree; compressed modules are unpacked (busybox insmod takes .ko).
depmod -b "$tmp/kernel" "$kver"
: >"$root/etc/modules.order"
for m in virtio_pci virtio_net; do modprobe -d "$tmp/kernel" -S "$kver" --show-depends "$m"; done |
  awk '$1 == "insmod" { print $2 }' | while read -r path; do
    rel=${path#*/lib/modules/"$kver"/}
    name=$(basename "$rel")
    case "$name" in
      *.ko) cp "$path" "$root/lib/modules/$name" ;;
      *.ko.xz) xz -dc "$path" >"$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
      *.ko.zst) zstd -qdc "$path" >"$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
      *.ko.gz) gzip -dc "$path" >"$root/lib/modules/${name%.gz}"; name=${name%.gz} ;;
      *) say "unexpected module file $path"; exit 1 ;;
    esac
    grep -qx "$name" "$root/etc/modules.order" || echo "$name" >>"$root/etc/modules.order"
  done
grep -q '^virtio_net.ko$' "$root/etc/modules.order" || { say "virtio_net not found"; exit 1; }
say "modules: $(tr '\n' ' ' <"$root/etc/modules.order")"

# Host binaries with the libraries ldd names (Debian's, like the guest's kernel).
copy_with_libs() {  # copy_with_libs BINARY DEST
  cp -L "$1" "$root/$2"
  ldd "$1" | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    [ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
  done
}
# In /usr/local/sbin (busybox has an ip applet of its own, without nodad).
copy_with_libs "$(command -v ethtool)" usr/local/sbin/ethtool
copy_with_libs "$(command -v ip)" usr/local/sbin/ip

cc -O2 -static -o "$root/usr/local/bin/vmtest" "$here/vmtest.c"
cc -O2 -o "$tmp/vmtest" "$here/vmtest.c"

(cd "$root" && find . -print0 | sort -z | cpio -o -H newc --null --quiet --owner 0:0) |
  gzip -1 >"$tmp/initramfs.cpio.gz"

mkdir -p "$out.new"
cp "$vmlinuz" "$out.new/vmlinuz"
mv "$tmp/initramfs.cpio.gz" "$tmp/vmtest" "$out.new/"
cp "$tmp/busybox/bin/busybox" "$out.new/busybox"
printf 'package=%s\nversion=%s\nkernel=%s\nbusybox=%s\n' "$kpkg" "$kver_pkg" "$kver" "$bbver" \
  >"$out.new/kernel.txt"
touch "$out.new/complete"
rm -rf "$out"
mv "$out.new" "$out"
# Older builds are not needed once a new one is complete.
for old in "$cache"/*/; do
  old=${old%/}
  [ "$old" = "$out" ] || rm -rf "$old"
done
say "done: $(du -sh "$out" | cut -f1) in $out"
echo "$out"

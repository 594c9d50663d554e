#!/usr/bin/env bash
# Runs the resource-limit tests (cpu-max, memory-max, pids-max) under a
# kernel whose cgroup v2 holds every controller: Debian's kernel in qemu,
# with this machine's root file system shared read-only (9p), so the tests
# run the binaries of ./build as they are. For machines where cgroup v1
# holds cpu, memory or pids and the tests can only check the start error.
#
#   scripts/cgroup-vm.sh              # the three limit tests
#   scripts/cgroup-vm.sh '*cgroup*'   # other actors_tests by name
#
# Needs a build (scripts/build.sh) and root (apt-get, the 9p share of /).
# Without KVM qemu emulates the CPU: slow to boot (about a minute), fine to
# test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
filter=${1:-*-max*}
test -x build/tests/actors_tests || {
  echo "cgroup-vm: build/tests/actors_tests is missing: run scripts/build.sh" >&2
  exit 1
}

need=()
command -v qemu-system-x86_64 > /dev/null || need+=(qemu-system-x86)
test -x /bin/busybox || need+=(busybox-static)
if ((${#need[@]})); then
  echo "cgroup-vm: installing ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${need[@]}" > /dev/null
fi

work=build/cgroup-vm
mkdir -p "$work"
# Debian's current kernel package, unpacked (not installed).
pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
if [ ! -d "$work/$pkg" ]; then
  echo "cgroup-vm: fetching $pkg"
  (cd "$work" && apt-get download "$pkg" > /dev/null 2>&1 && dpkg-deb -x "$pkg"_*.deb "$pkg")
fi
kernel=$(ls "$work/$pkg"/boot/vmlinuz-*)
modules=$(ls -d "$work/$pkg"/lib/modules/*/kernel)

# An initramfs: busybox, the modules for virtio and 9p, and an init that
# mounts the shared root, cgroup2 alone, and runs the tests in it.
rm -rf "$work/initrd"
mkdir -p "$work/initrd"/{bin,mods,proc,sys,dev,host}
cp /bin/busybox "$work/initrd/bin/"
mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p"
for m in $mods; do
  cp "$(find "$modules" -name "$m.ko" | head -1)" "$work/initrd/mods/"
done
cat > "$work/initrd/init" << EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $mods; do insmod /mods/\$m.ko; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144 host /host
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mount -t tmpfs tmp /host/tmp
mount -t cgroup2 none /host/sys/fs/cgroup
echo "cgroup-vm: kernel \$(uname -r), cgroup v2 controllers: \$(cat /host/sys/fs/cgroup/cgroup.controllers)"
SWITCHBOARD_TEST_CGROUP=required chroot /host /bin/sh $root/$work/guest.sh $root "$filter"
echo "cgroup-vm: exit \$?"
poweroff -f
EOF
chmod +x "$work/initrd/init"
# Run in the guest, on the shared root. Twice: in the root cgroup, then as
# a service in a cgroup of its own with the controllers delegated (as
# systemd's Delegate=yes gives), where the node first moves itself into a
# leaf. SWITCHBOARD_TEST_CGROUP=required makes a start error a failure.
cat > "$work/guest.sh" << 'EOF'
root=$1
filter=$2
cd /tmp
echo "cgroup-vm: in the root cgroup"
"$root/build/tests/actors_tests" "$filter" || exit 1
echo "+cpu +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/service
sh -c 'echo $$ > /sys/fs/cgroup/service/cgroup.procs && exec "$0" "$1"' \
  "$root/build/tests/actors_tests" "$filter" || exit 1
echo "cgroup-vm: the node moved itself into service/node:" \
  "$(cat /sys/fs/cgroup/service/node/cgroup.events 2> /dev/null | head -1)"
EOF
(cd "$work/initrd" && find . | busybox cpio -o -H newc 2> /dev/null | gzip > ../initrd.gz)

echo "cgroup-vm: booting $(basename "$kernel") in qemu"
log=$work/console.log
timeout 1200 qemu-system-x86_64 -m 2048 -smp 2 -nographic -no-reboot \
  -kernel "$kernel" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1" \
  -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
  2>&1 | tr -d '\r' | tee "$log" | sed -n '/cgroup-vm:/,$p'
grep -q "^cgroup-vm: exit 0" "$log"

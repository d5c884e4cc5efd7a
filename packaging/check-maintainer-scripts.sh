#!/bin/sh
# Runs the .deb's maintainer scripts as dpkg would (install, remove, purge)
# against throwaway copies of /etc and /var/lib: a private mount namespace
# (unshare) bind-mounts them over the real ones, so the host is untouched.
# Usage (as root): check-maintainer-scripts.sh EXTRACTED_DEB_DIR SCRATCH_DIR
set -eu
pkg=$1
scratch=$2
if [ "${ANPRD_IN_NAMESPACE:-}" != 1 ]; then
    ANPRD_IN_NAMESPACE=1 exec unshare --mount --propagation private "$0" "$@"
fi
fail() { echo "FAIL: $*" >&2; exit 1; }
# As dpkg calls them: deb-systemd-helper refuses to run otherwise.
script() {
    name=$1; shift
    DPKG_MAINTSCRIPT_PACKAGE=anprd DPKG_MAINTSCRIPT_NAME=$name "$pkg/DEBIAN/$name" "$@"
}

mkdir -p "$scratch/etc" "$scratch/varlib" "$scratch/unitdir"
cp -a /etc/. "$scratch/etc/"
mount --bind "$scratch/etc" /etc
mount --bind "$scratch/varlib" /var/lib
mkdir -p /usr/lib/systemd/system
mount --bind "$scratch/unitdir" /usr/lib/systemd/system

# Unpack as dpkg would, then configure.
cp -a "$pkg/etc/anprd" /etc/
cp "$pkg/usr/lib/systemd/system/anprd.service" /usr/lib/systemd/system/
getent passwd anprd >/dev/null && fail "user anprd exists before install"
script postinst configure
getent passwd anprd >/dev/null || fail "postinst did not create user anprd"
getent group anprd >/dev/null || fail "postinst did not create group anprd"
id -nG anprd | tr ' ' '\n' | grep -qx video || fail "anprd is not in group video"
[ "$(stat -c '%U:%G %a' /etc/anprd/anprd.toml)" = "root:anprd 640" ] \
    || fail "anprd.toml is $(stat -c '%U:%G %a' /etc/anprd/anprd.toml), not root:anprd 640"
[ -L /etc/systemd/system/multi-user.target.wants/anprd.service ] || fail "unit not enabled"
# Upgrade: configure again with the old version; nothing breaks, user kept.
script postinst configure 0.0.9-1
echo "installed: user, group, video membership, config mode, unit enabled"

# Remove keeps state (unsent reads) and the user; purge deletes both.
mkdir -p /var/lib/anprd/spool && echo read > /var/lib/anprd/spool/db
script prerm remove
script postrm remove
[ -f /var/lib/anprd/spool/db ] || fail "remove deleted the spool"
getent passwd anprd >/dev/null || fail "remove deleted the user"
script postrm purge
[ -e /var/lib/anprd ] && fail "purge kept /var/lib/anprd"
getent passwd anprd >/dev/null && fail "purge kept the user"
echo "removed and purged: state kept until purge"

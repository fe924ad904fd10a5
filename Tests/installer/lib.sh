#!/usr/bin/env bash
# Shared by proof.sh and systemd-proof.sh (sourced; defines functions only). The caller sets
# CACHE, BASE_TAR, DEBS, MIRROR and ROOT, and defines say().

# unpack_base_root: the cached debootstrap minbase bookworm tarball (built once per machine, under
# a lock both proofs share) unpacked into $ROOT.
unpack_base_root() {
  mkdir -p "$CACHE" "$DEBS"
  (
    flock 9
    if [ ! -s "$BASE_TAR" ]; then
      build=$CACHE/build.$$
      rm -rf "$build"
      say "no cached tarball: running debootstrap (once per machine)"
      debootstrap --variant=minbase bookworm "$build" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
        { tail -n 20 "$CACHE/debootstrap.log"; rm -rf --one-file-system "$build"; exit 1; }
      tar -C "$build" -cf "$BASE_TAR.tmp" .
      mv "$BASE_TAR.tmp" "$BASE_TAR"
      rm -rf --one-file-system "$build"
    fi
  ) 9>"$CACHE/.lock"
  mkdir -p "$ROOT"
  tar -C "$ROOT" -xf "$BASE_TAR"
  say "unpacked $(du -sh "$ROOT" | cut -f1) into $ROOT"
}

# in_root_online CMD...: CMD in the root with chroot, a clean environment and the host's network
# (package downloads only).
in_root_online() {
  chroot "$ROOT" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb \
    DEBIAN_FRONTEND=noninteractive "$@"
}

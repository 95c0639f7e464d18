#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer:
# a second meson build (gcc, -Db_sanitize=address,undefined) in build-asan/.
# Only what the tests run is built there: vmkit itself is linked statically
# (see meson.build), which ASan cannot be, and the unit tests do not need it.
# Usage: tests/unit/asan.sh [BUILD-DIR]  (make check runs it)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build-asan}
[ -f "$B/build.ninja" ] ||
	meson setup "$B" -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false > /dev/null
# A build dir from an older tree lists the tests of then: regenerate first.
ninja -C "$B" build.ninja > /dev/null
# The executables (and test guests) the tests name, as build-relative paths.
targets=$(meson introspect --tests "$B" | python3 -c '
import json, os, sys
build = os.path.realpath(sys.argv[1])
out = set()
for t in json.load(sys.stdin):
    for arg in t["cmd"]:
        # Test guests are named relative to the build dir (the tests run there).
        p = os.path.realpath(os.path.join(build, arg))
        # vmkit itself cannot be built here (see above): mgmt-ops, which
        # names it, does without it.
        if p.startswith(build + os.sep) and p != os.path.join(build, "vmkit"):
            out.add(os.path.relpath(p, build))
print(" ".join(sorted(out)))' "$B")
ninja -C "$B" $targets > "$B/asan-build.log" 2>&1 || { tail -40 "$B/asan-build.log"; exit 1; }
# Nothing is left out (test-console once ended its thread with pthread_cancel,
# which ASan cannot follow; it now ends it with an eventfd and a join).
SKIP=" "
tests=$(meson test -C "$B" --no-rebuild --list 2>/dev/null | grep -v '^ninja' |
	while read -r t; do [[ $SKIP == *" $t "* ]] || echo "$t"; done)
# halt_on_error: a report fails its test; detect_leaks stays on (the default).
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C "$B" --no-rebuild --print-errorlogs $tests

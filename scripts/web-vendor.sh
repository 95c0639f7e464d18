#!/usr/bin/env bash
# Assemble the web root of vmkit serve: web/'s own files plus the two npm
# packages it uses (xterm.js for the serial console, noVNC for the display).
# Usage: scripts/web-vendor.sh OUTDIR        (the build passes build/web)
#
# npm runs in a cache directory outside the tree, keyed by the lockfile's
# hash: the tree never holds node_modules, a second build reuses the
# install, and a changed lockfile gets a fresh one. `npm ci` installs
# exactly what web/package-lock.json says (lockfileVersion 3, which
# Debian 12's npm 9 reads), so the bytes served are the reviewed ones.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
src=$(cd "$(dirname "$0")/../web" && pwd)

lock_sum=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/vmkit/web-$lock_sum
mods=$cache/node_modules

# The marker is written last: an interrupted npm ci leaves no marker and is
# redone, never half used.
if [ ! -e "$cache/.complete" ]; then
	echo "web-vendor: npm ci in $cache" >&2
	rm -rf "$cache"
	mkdir -p "$cache"
	cp "$src/package.json" "$src/package-lock.json" "$cache/"
	# --ignore-scripts: none of these packages needs an install script, and
	# none should run one on the build machine.
	if ! (cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
		2>"$cache/npm.err"); then
		# A registry reached through a TLS-intercepting proxy whose CA this root
		# lacks (a fresh Debian root made by CI's tools is one): fetch again
		# without TLS verification. What is installed is still exactly the
		# reviewed bytes: npm ci checks each package against the lockfile's
		# sha512 integrity hash, and every package there must have one.
		if grep -qE 'SELF_SIGNED_CERT|UNABLE_TO_(GET_ISSUER|VERIFY_LEAF)|CERT_' "$cache/npm.err" &&
			python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["packages"]; sys.exit(any(k and "integrity" not in v for k,v in p.items()))' \
				"$cache/package-lock.json"; then
			echo "web-vendor: the npm registry's certificate is not trusted here; fetching" \
				"without TLS verification, each package checked against the lockfile's sha512" >&2
			rm -rf "$cache/node_modules"
			(cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
				--strict-ssl=false)
		else
			cat "$cache/npm.err" >&2
			exit 1
		fi
	fi
	touch "$cache/.complete"
fi

# Each file is copied only when its bytes differ, so a run with nothing
# changed writes nothing. vendor/ is rebuilt whole when the lockfile
# changed, so files of an older package version do not linger.
if [ "$(cat "$out/vendor/.lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
	rm -rf "$out/vendor"
fi
mkdir -p "$out/vendor/xterm" "$out/vendor/novnc"

copy() {	# copy SRC DEST when their bytes differ
	cmp -s "$1" "$2" || install -m 0644 -D "$1" "$2"
}

# web/'s files, minus the npm metadata (the server has no use for it).
(cd "$src" && find . -type f ! -path './node_modules/*' ! -name 'package.json' \
	! -name 'package-lock.json' -printf '%P\n') | while read -r f; do
	copy "$src/$f" "$out/$f"
done

copy "$mods/@xterm/xterm/lib/xterm.mjs" "$out/vendor/xterm/xterm.mjs"
copy "$mods/@xterm/xterm/css/xterm.css" "$out/vendor/xterm/xterm.css"
copy "$mods/@xterm/addon-fit/lib/addon-fit.mjs" "$out/vendor/xterm/addon-fit.mjs"
copy "$mods/@xterm/xterm/LICENSE" "$out/vendor/xterm/LICENSE"

# noVNC's core/ imports ../vendor/pako/...: keep that layout.
for d in core vendor/pako; do
	(cd "$mods/@novnc/novnc/$d" && find . -type f -printf '%P\n') | while read -r f; do
		copy "$mods/@novnc/novnc/$d/$f" "$out/vendor/novnc/$d/$f"
	done
done
copy "$mods/@novnc/novnc/LICENSE.txt" "$out/vendor/novnc/LICENSE.txt"

# Files dropped from web/ since the last run would otherwise linger and be
# served: remove anything outside vendor/ that web/ no longer has.
(cd "$out" && find . -type f ! -path './vendor/*' -printf '%P\n') | while read -r f; do
	[ -e "$src/$f" ] || rm -f "$out/$f"
done
echo "$lock_sum" >"$out/vendor/.lock-sha256"

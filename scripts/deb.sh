#!/usr/bin/env bash
# `make deb`: the Debian package for a server, built from a copy of this
# tree in build/deb/ (dpkg-buildpackage writes beside the source, so not
# in the checkout's parent), then checked by lintian (errors fail).
#   scripts/deb.sh     ->  build/deb/careline_VERSION_ARCH.deb
# Installs what it needs when missing: the packaging tools and the
# Build-Depends of debian/control (apt-get build-dep), which are its only
# list of packages; scripts/deps.sh is for development machines.
set -euo pipefail

cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
readonly top=$PWD out=$PWD/build/deb

# VERSION and debian/changelog must agree; version.sh says so when not.
version=$(scripts/version.sh)

sudo=()
if ((EUID != 0)); then
	command -v sudo >/dev/null 2>&1 || {
		echo "deb.sh: missing build tools and not root: install them as root" >&2
		exit 1
	}
	sudo=(sudo)
fi
apt_install() {
	echo "installing: $*"
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

tools=()
for p in dpkg-dev debhelper lintian; do
	[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] ||
		tools+=("$p")
done
((${#tools[@]} == 0)) || apt_install "${tools[@]}"
if ! dpkg-checkbuilddeps >/dev/null 2>&1; then
	echo "installing the Build-Depends of debian/control"
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get build-dep -y -qq --no-install-recommends ./ >/dev/null
fi

# The files a clone would have, plus new ones not ignored: never build/,
# var/ (a private cluster) or node_modules/.
src=$out/src/careline-$version
rm -rf "$out"
mkdir -p "$src"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
		tar --null -T - -cf - | tar -C "$src" -xf -
else
	tar --exclude=./build --exclude=./build-asan --exclude=./var \
		--exclude=./node_modules -cf - . | tar -C "$src" -xf -
fi

(cd "$src" && dpkg-buildpackage --build=binary --no-sign) >"$out/build.log" 2>&1 || {
	tail -n 30 "$out/build.log" >&2
	echo "deb.sh: dpkg-buildpackage failed (whole log: $out/build.log)" >&2
	exit 1
}
mv "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out/"
rm -rf "$out/src"

deb=$(ls "$out"/careline_"$version"_*.deb)
echo "lintian:"
lintian --display-info --fail-on error "$out"/careline_"$version"_*.changes |
	sed 's/^/  /' || {
	echo "deb.sh: lintian found errors" >&2
	exit 1
}
echo "built ${deb#"$top"/}"

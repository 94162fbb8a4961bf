#!/usr/bin/env bash
# The install a user does: pack the package, install the tarball globally into a temporary prefix with npm 10,
# 11 and the newest (npm 12 blocks dependencies' install scripts; none may be needed), run --version from each
# install, then doctor and a real sync from the newest one against the S3 test server. Called by .ci/run with S3_ENDPOINT/S3_ACCESS_KEY/S3_SECRET_KEY
# set and the bucket to use as $1 (it must exist); NODE_BIN is the directory of the Node.js to run it with.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${S3_ENDPOINT:?}" "${S3_ACCESS_KEY:?}" "${S3_SECRET_KEY:?}"
bucket=${1:?usage: global.sh BUCKET}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "global install check: $*" >&2; exit 1; }
export PATH="${NODE_BIN:?}:$PATH"
echo "node $(node --version)"

npm pack --silent --pack-destination "$W" >/dev/null
tgz=$(ls "$W"/r2mirror-*.tgz)
if tar tzf "$tgz" | grep -E '\.map$'; then fail "the package ships source maps that point at sources it does not ship"; fi
if tar tzf "$tgz" | grep -E '^package/(src|test)/'; then fail "the package ships src/ or test/"; fi

for v in 10 11 latest; do
  npm install --prefix "$W/npm$v" --no-save --no-audit --no-fund "npm@$v" >/dev/null
  npm_v="$W/npm$v/node_modules/.bin/npm"
  echo "--- npm $("$npm_v" --version): npm install -g of the tarball"
  "$npm_v" install -g --prefix "$W/global$v" --no-audit --no-fund "$tgz" 2>&1 | tee "$W/install.log"
  if grep -qi 'install.scripts\|gyp' "$W/install.log"; then fail "npm $v ran or blocked an install script (see above): the package must need none"; fi
  r2mirror="$W/global$v/bin/r2mirror"
  [ -x "$r2mirror" ] || fail "no $r2mirror after the install with npm $v"
  "$r2mirror" --version | grep -E '^r2mirror [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version from the npm $v install"
done
# the newest npm's install from here on
# npm 10 and 11 link the man page into the prefix; npm 12 no longer links any package's man pages
# (npm/cli#9035), so there it is read from the package with man -M.
[ -f "$W/global11/share/man/man1/r2mirror.1" ] || fail "npm 11's install -g did not link the man page"
pkgman="$W/globallatest/lib/node_modules/r2mirror/man"
[ -f "$pkgman/man1/r2mirror.1" ] || fail "the package has no man/man1/r2mirror.1"
if command -v man >/dev/null; then
  MANWIDTH=80 man -M "$pkgman" r2mirror 2>/dev/null | grep -q 'r2mirror sync \[options\]' || fail "man -M $pkgman r2mirror does not show the sync command"
fi
"$r2mirror" completion bash | bash -n || fail "the installed 'completion bash' is not a bash script"

mkdir -p "$W/folder/sub" "$W/state"
for i in 1 2 3; do head -c $((i * 1000)) /dev/urandom > "$W/folder/sub/file$i.bin"; done
echo hello > "$W/folder/hello.txt"
prefix="global-install-$$-$(date +%s)/"
cat > "$W/config.yaml" <<YAML
remote:
  endpoint: $S3_ENDPOINT
state: $W/state/state.db
folders:
  - name: data
    path: $W/folder
    bucket: $bucket
    prefix: $prefix
YAML
export R2_ACCESS_KEY_ID=$S3_ACCESS_KEY R2_SECRET_ACCESS_KEY=$S3_SECRET_KEY
"$r2mirror" doctor --config "$W/config.yaml" | tee "$W/doctor.txt" || fail "doctor failed"
grep -q '^ok    sqlite: ' "$W/doctor.txt" || fail "doctor did not check the SQLite binding"
grep -q '^ok    notify: ' "$W/doctor.txt" || fail "doctor did not report the notify path"

"$r2mirror" sync --config "$W/config.yaml" || fail "sync exited $?"
"$r2mirror" ls --recursive "$bucket/$prefix" --config "$W/config.yaml" | tee "$W/ls.txt"
[ "$(grep -c "$prefix" "$W/ls.txt")" = 4 ] || fail "expected 4 objects under $bucket/$prefix"
"$r2mirror" status --config "$W/config.yaml" | grep -q '4 files' || { "$r2mirror" status --config "$W/config.yaml"; fail "status does not show 4 files"; }
"$r2mirror" sync --config "$W/config.yaml" --json > "$W/again.json" || fail "second sync exited $?"
echo "global install check: ok"

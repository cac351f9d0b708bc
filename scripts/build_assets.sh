#!/usr/bin/env bash
# Builds the browser assets: installs the npm packages pinned in package-lock.json into
# node_modules/ (npm ci) and copies the distributable files the pages use into web/static/vendor/.
# Neither directory is committed. Idempotent and quick when nothing changed: npm ci runs only when
# package-lock.json differs from the one node_modules/ was installed from, and the copy only when
# the lock file or this script changed or a copied file is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

vendor=web/static/vendor
npm_stamp=node_modules/.infora-lock.sha256
vendor_stamp=$vendor/.stamp

# Source (under node_modules/) and destination (under web/static/vendor/) of every copied file or
# directory. The licences travel with the code (bpmn-js's licence requires keeping its notice).
files=(
  "bpmn-js/dist/bpmn-viewer.production.min.js bpmn-js/bpmn-viewer.production.min.js"
  "bpmn-js/dist/bpmn-modeler.production.min.js bpmn-js/bpmn-modeler.production.min.js"
  "bpmn-js/dist/assets/diagram-js.css bpmn-js/assets/diagram-js.css"
  "bpmn-js/dist/assets/bpmn-js.css bpmn-js/assets/bpmn-js.css"
  "bpmn-js/dist/assets/bpmn-font/css/bpmn.css bpmn-js/assets/bpmn-font/css/bpmn.css"
  "bpmn-js/dist/assets/bpmn-font/font bpmn-js/assets/bpmn-font/font"
  "bpmn-js/LICENSE bpmn-js/LICENSE"
  "chart.js/dist/chart.umd.min.js chart.js/chart.umd.min.js"
  "chart.js/dist/chart.umd.min.js.map chart.js/chart.umd.min.js.map"
  "chart.js/LICENSE.md chart.js/LICENSE.md"
  "chartjs-plugin-annotation/dist/chartjs-plugin-annotation.min.js chartjs-plugin-annotation/chartjs-plugin-annotation.min.js"
  "chartjs-plugin-annotation/LICENSE.md chartjs-plugin-annotation/LICENSE.md"
  "swagger-ui-dist/swagger-ui-bundle.js swagger-ui/swagger-ui-bundle.js"
  "swagger-ui-dist/swagger-ui.css swagger-ui/swagger-ui.css"
  "swagger-ui-dist/LICENSE swagger-ui/LICENSE"
  "swagger-ui-dist/NOTICE swagger-ui/NOTICE"
)

command -v npm >/dev/null 2>&1 || {
  echo "npm saknas / npm is missing: install Node.js and npm (Debian: apt-get install npm)" >&2
  exit 1
}

# One build at a time (make run and make test may start together); package.json is always there.
exec 9<package.json
flock 9

lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$lock_sum" ]; then
  echo "npm ci (package-lock.json changed or node_modules/ missing)"
  npm ci --no-audit --no-fund --ignore-scripts --prefer-offline --loglevel=error
  echo "$lock_sum" >"$npm_stamp"
fi

want=$(cat package-lock.json scripts/build_assets.sh | sha256sum | cut -d' ' -f1)
current=yes
[ "$(cat "$vendor_stamp" 2>/dev/null)" = "$want" ] || current=no
for entry in "${files[@]}"; do
  [ -e "$vendor/${entry#* }" ] || current=no
done
if [ "$current" = yes ]; then
  exit 0
fi

# Build the new tree aside (in the git-ignored node_modules/, same file system) and swap, so that
# files dropped from the list disappear and a running server never sees a half-copied directory.
tmp=$(mktemp -d node_modules/.infora-vendor.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for entry in "${files[@]}"; do
  src=node_modules/${entry%% *}
  dst=$tmp/${entry#* }
  mkdir -p "$(dirname "$dst")"
  cp -R "$src" "$dst"
done
echo "$want" >"$tmp/.stamp"
chmod -R a+rX "$tmp"
rm -rf "$vendor"
mkdir -p "$(dirname "$vendor")"
mv "$tmp" "$vendor"
trap - EXIT
echo "Browser assets copied to $vendor/"

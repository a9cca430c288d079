#!/bin/sh
# Copies the chat page's third-party files into static/vendor/, from the exact versions
# pinned in static/package.json and static/package-lock.json. npm installs them into a
# temporary directory outside static/, so that nothing but vendor/ lands in what agentd
# serves. vendor/ is committed: the daemon and `make run` need no Node.js.
#
#   static/tools/vendor.sh          (needs npm and the npm registry)
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)       # static/
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agentd-vendor.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

command -v npm >/dev/null 2>&1 || { echo "vendor.sh: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

nm="$tmp/node_modules"
out="$here/vendor"
new="$tmp/vendor"
mkdir -p "$new/marked" "$new/dompurify" "$new/highlight"

# marked: Markdown to HTML (MIT)
cp "$nm/marked/lib/marked.esm.js" "$nm/marked/LICENSE" "$new/marked/"
# DOMPurify: the HTML sanitizer (Apache-2.0 or MPL-2.0)
cp "$nm/dompurify/dist/purify.es.mjs" "$nm"/dompurify/LICENSE* "$new/dompurify/"
# highlight.js: the ES module build with its common languages, and GitHub's light and
# dark themes (BSD-3-Clause)
hl="$nm/@highlightjs/cdn-assets"
cp "$hl/es/highlight.min.js" "$hl/styles/github.min.css" "$hl/styles/github-dark.min.css" \
   "$hl/LICENSE" "$new/highlight/"

# The ES builds name a source map that is not shipped: drop the reference, so that a
# browser's developer tools do not ask the server for a file that is not there.
for f in "$new/marked/marked.esm.js" "$new/dompurify/purify.es.mjs"; do
	sed -i '/^\/\/# sourceMappingURL=/d' "$f"
done

# Which versions these are, read from the installed packages themselves.
for p in marked dompurify @highlightjs/cdn-assets; do
	node -e 'const p = require(process.argv[1]); console.log(p.name + " " + p.version)' \
		"$nm/$p/package.json"
done > "$new/VERSIONS"

rm -rf "$out"
mv "$new" "$out"
echo "vendor.sh: static/vendor/ now holds:" && sed 's/^/  /' "$out/VERSIONS"

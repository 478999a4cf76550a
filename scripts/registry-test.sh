#!/usr/bin/env bash
# `npm run registry-test` (the last step of `npm test`): the package published
# the way a release publishes it, to a local npm registry, and installed by
# name into empty projects the way a new user installs it, with npm, pnpm,
# yarn (berry; node-modules and Plug'n'Play) and bun.
#
# - The registry: verdaccio (pinned, from npm, with node-fetch pinned through
#   `overrides`: its 6.8.0 release resolves a node-fetch that breaks on Node
#   20), installed once under the cache folder, listening on 127.0.0.1 on a
#   free port, with no uplinks: only what this script publishes exists there.
#   Started here and stopped by its pid when the script ends, however it ends.
# - Published: the platform packages from npm/<platform>/ (linux-x64-gnu
#   with the release binary of `npm run build`; the others with the binary
#   `npm run build:all` put there, or else as metadata only, so that every
#   optionalDependency exists: yarn fails an install that names a missing
#   one), then the root package staged with its optionalDependencies
#   (scripts/optional-deps.mjs). Publish times are then set 30 days back:
#   yarn 4.18 refuses versions younger than its npmMinimalAgeGate ("All
#   versions satisfying ... are quarantined", YN0016).
# - Each package manager (pinned; fetched from npm into the cache folder, no
#   install scripts run) installs `<name>@<version>` into an empty project,
#   with its own empty cache and HOME, with `cc`, `gcc`, `c++`, `g++`, `make`,
#   `cargo` and `rustc` first on PATH as shims that record being called. Each
#   install must exit 0, print nothing about scripts or builds, and call no
#   shim. Then one agent turn against the fixture image under Node (CommonJS
#   and ESM) and under Bun (ESM and CommonJS; not under yarn's Plug'n'Play,
#   which Bun does not read), and the addon mapped into the process must be
#   the published linux-x64-gnu binary, from the platform package.
# - From source: `npm install --omit=optional` (no platform package), the
#   load error's code and build command checked, that command run (a cold
#   release build with the real cargo: minutes), then a turn under Node and
#   Bun from the binary it built into the installed package.
#
# Times are printed per install and for the build. Needs the release binary
# (npm run build) and a Docker engine; engine use takes the shared engine
# lock unless the caller holds it (MERCURY_ENGINE_LOCK_HELD, as npm test).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

VERDACCIO_VERSION=6.8.0
NODE_FETCH_VERSION=2.7.0
PNPM_VERSION=12.26.0 # the native pnpm: @pnpm/exe.linux-x64
YARN_VERSION=4.18.1  # @yarnpkg/cli-dist
# BUN_VERSION (@oven/bun-linux-x64): the Bun npm test pins, from scripts/runtimes.sh.
source "$root/scripts/runtimes.sh"
# Well past the release-age gates of the clients above (yarn's npmMinimalAgeGate).
BACKDATE_DAYS=30

cache="${MERCURY_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mercury-container-runner}"
platform=linux-x64-gnu
binary=container-runner.$platform.node
name="$(node -p 'require("./package.json").name')"
version="$(node -p 'require("./package.json").version')"
image="${MERCURY_TEST_IMAGE:-mercury-test-agent:latest}"

say() { printf 'registry-test: %s\n' "$*"; }
die() { printf 'registry-test: %s\n' "$*" >&2; exit 1; }

[ -f "$binary" ] || die "$binary missing: run npm run build first"
[ "$(uname -sm)" = "Linux x86_64" ] || die "runs on Linux x64 (glibc) only"
docker image inspect "$image" >/dev/null 2>&1 || bash scripts/build-images.sh test >/dev/null

tmp="$(mktemp -d "${TMPDIR:-/tmp}/registry-test.XXXXXX")"
verdaccio_pid=
cleanup() {
  if [ -n "$verdaccio_pid" ]; then
    kill "$verdaccio_pid" 2>/dev/null || true
    wait "$verdaccio_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

engine() { # runs a command that uses the engine under the shared engine lock
  if [ -n "${MERCURY_ENGINE_LOCK_HELD:-}" ]; then "$@"; else flock -s /tmp/mercury-engine.lock "$@"; fi
}

# ---- the tools, pinned, fetched once into the cache folder ----
# npm_tarball (scripts/runtimes.sh): each unpacked with `npm pack`, no install step.
pnpm_bin="$(npm_tarball @pnpm/exe.linux-x64 "$PNPM_VERSION")/pnpm"
yarn_js="$(npm_tarball @yarnpkg/cli-dist "$YARN_VERSION")/bin/yarn.js"
bun_bin="$(npm_tarball @oven/bun-linux-x64 "$BUN_VERSION")/bin/bun"

verdaccio_dir="$cache/verdaccio-$VERDACCIO_VERSION"
if [ ! -f "$verdaccio_dir/node_modules/verdaccio/package.json" ]; then
  say "installing verdaccio $VERDACCIO_VERSION into $verdaccio_dir"
  rm -rf "$verdaccio_dir" && mkdir -p "$verdaccio_dir"
  cat >"$verdaccio_dir/package.json" <<EOF
{ "private": true, "dependencies": { "verdaccio": "$VERDACCIO_VERSION" }, "overrides": { "node-fetch": "$NODE_FETCH_VERSION" } }
EOF
  (cd "$verdaccio_dir" && npm install --no-audit --no-fund --ignore-scripts >"$tmp/verdaccio-install.log" 2>&1) ||
    { cat "$tmp/verdaccio-install.log" >&2; die "installing verdaccio failed"; }
fi

# ---- the registry ----
port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')"
registry="http://127.0.0.1:$port/"
mkdir -p "$tmp/storage"
cat >"$tmp/verdaccio.yaml" <<EOF
# No uplinks: nothing is proxied; only what this run publishes exists.
storage: $tmp/storage
auth:
  htpasswd:
    file: $tmp/htpasswd
    max_users: 1
packages:
  '**':
    access: \$all
    publish: \$authenticated
listen: 127.0.0.1:$port
log: { type: stdout, format: pretty, level: warn }
EOF
node "$verdaccio_dir/node_modules/verdaccio/bin/verdaccio" --config "$tmp/verdaccio.yaml" >"$tmp/verdaccio.log" 2>&1 &
verdaccio_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "${registry}-/ping" >/dev/null 2>&1 && break
  kill -0 "$verdaccio_pid" 2>/dev/null || { cat "$tmp/verdaccio.log" >&2; die "verdaccio exited"; }
  sleep 0.2
done
curl -fsS "${registry}-/ping" >/dev/null || { cat "$tmp/verdaccio.log" >&2; die "verdaccio did not answer on $registry"; }
say "verdaccio $VERDACCIO_VERSION on $registry (pid $verdaccio_pid, no uplinks)"

# The publisher: a user made on the spot, its token kept in a private npmrc
# (never on a command line).
node - "$registry" "$tmp/publish.npmrc" <<'EOF'
const [registry, npmrc] = process.argv.slice(2);
const crypto = require("crypto"), fs = require("fs");
const body = JSON.stringify({ name: "release", password: crypto.randomBytes(24).toString("hex") });
fetch(new URL("-/user/org.couchdb.user:release", registry), { method: "PUT", headers: { "content-type": "application/json" }, body })
  .then(async (r) => {
    const j = await r.json();
    if (!r.ok || !j.token) throw new Error(`adding the publisher: HTTP ${r.status}`);
    const host = registry.replace(/^http:/, "");
    fs.writeFileSync(npmrc, `registry=${registry}\n${host}:_authToken=${j.token}\n`, { mode: 0o600 });
  })
  .catch((e) => { console.error(String(e.message)); process.exit(1); });
EOF
publish() { # <folder>
  npm publish "$1" --userconfig "$tmp/publish.npmrc" --registry "$registry" --cache "$tmp/npm-cache-publish" >"$tmp/publish.log" 2>&1 ||
    { cat "$tmp/publish.log" >&2; die "npm publish $1 failed"; }
}

# ---- publish: the platform packages, then the staged root ----
published=()
for dir in npm/*/; do
  plat="$(basename "$dir")"
  stage="$tmp/stage/$plat"
  mkdir -p "$stage" && cp -r "$dir." "$stage/"
  file="container-runner.$plat.node"
  if [ "$plat" = "$platform" ]; then
    cp "$binary" "$stage/"
  elif [ ! -f "$stage/$file" ]; then
    plat="$plat (metadata only)"
  fi
  publish "$stage"
  published+=("$plat")
done
mkdir -p "$tmp/stage/root"
root_tgz="$(npm pack --silent --pack-destination "$tmp" .)"
tar -xzf "$tmp/$root_tgz" -C "$tmp/stage/root" --strip-components=1
node scripts/optional-deps.mjs "$tmp/stage/root/package.json" >/dev/null
node -e '
  const pkg = require(process.argv[1]);
  const hooks = ["preinstall", "install", "postinstall", "prepare", "preprepare", "postprepare"].filter((h) => pkg.scripts && pkg.scripts[h]);
  if (hooks.length) { console.error(`registry-test: the root package has install-time scripts: ${hooks.join(", ")}`); process.exit(1); }
' "$tmp/stage/root/package.json"
if find "$tmp/stage/root" -name '*.node' | grep -q .; then die "the root package carries a binary"; fi
publish "$tmp/stage/root"
say "published $name@$version and ${#published[@]} platform packages: ${published[*]}"

# Publish times 30 days back, in verdaccio's storage (read on every request).
# Every package published: the root and each platform package.
node - "$tmp/storage" "$BACKDATE_DAYS" "$(( ${#published[@]} + 1 ))" <<'EOF'
const fs = require("fs"), path = require("path");
const [storage, days, expected] = process.argv.slice(2);
const then = new Date(Date.now() - Number(days) * 86400e3).toISOString();
let n = 0;
for (const scope of fs.readdirSync(storage).filter((d) => d.startsWith("@"))) {
  for (const pkg of fs.readdirSync(path.join(storage, scope))) {
    const file = path.join(storage, scope, pkg, "package.json");
    if (!fs.existsSync(file)) continue;
    const meta = JSON.parse(fs.readFileSync(file, "utf8"));
    for (const k of Object.keys(meta.time || {})) meta.time[k] = then;
    fs.writeFileSync(file, JSON.stringify(meta, null, 2));
    n++;
  }
}
if (n !== Number(expected)) { console.error(`registry-test: backdated ${n} packages, expected ${expected}`); process.exit(1); }
EOF

# ---- the compiler shims ----
mkdir -p "$tmp/shims"
calls="$tmp/compiler-calls"
for tool in cc gcc c++ g++ make cargo rustc; do
  printf '#!/bin/sh\necho "%s $*" >>"%s"\nexit 1\n' "$tool" "$calls" >"$tmp/shims/$tool"
  chmod +x "$tmp/shims/$tool"
done

# The shims do intercept: a call through the PATH the installs get is recorded.
(PATH="$tmp/shims:$PATH" cc --version >/dev/null 2>&1) || true
[ "$(cat "$calls" 2>/dev/null)" = "cc --version" ] || die "the compiler shims do not intercept cc"

# ---- install into empty projects ----
published_sha="$(sha256sum "$binary" | cut -d' ' -f1)"
passed=0
failed=0
results=()
fail() { failed=$((failed + 1)); say "FAIL ($1): $2"; }

new_project() { # <label>: an empty project with the smoke entries; prints its folder
  local dir="$tmp/projects/$1"
  mkdir -p "$dir" "$tmp/home/$1"
  printf '{ "name": "install-%s", "version": "1.0.0", "private": true }\n' "$1" >"$dir/package.json"
  cp scripts/install-smoke.js "$dir/install-smoke.cjs"
  printf 'require("./install-smoke.cjs")(require("%s"), process.argv[2], process.argv[3]);\n' "$name" >"$dir/smoke.cjs"
  printf 'import { createRequire } from "node:module";\nimport * as m from "%s";\ncreateRequire(import.meta.url)("./install-smoke.cjs")(m, process.argv[2], process.argv[3]);\n' "$name" >"$dir/smoke.mjs"
  echo "$dir"
}

install_with() { # <label> <command...>: run in project <label up to a "+">, timed, shims first on PATH, HOME private
  local label="$1"
  shift
  local dir="$tmp/projects/${label%%+*}"
  rm -f "$calls"
  local start=$EPOCHREALTIME rc=0
  (cd "$dir" && HOME="$tmp/home/${label%%+*}" PATH="$tmp/shims:$PATH" "$@") >"$tmp/$label.install.log" 2>&1 || rc=$?
  local secs
  secs="$(echo "$EPOCHREALTIME - $start" | bc)"
  printf -v secs '%.1f' "$secs"
  local warnings ok=1
  # Anything about scripts or builds, any warning, and any yarn message but
  # its progress lines (YN0085 resolved, YN0013 fetched), less
  # what the caller allows (ALLOW: a pattern of lines it expects).
  warnings="$(grep -iE 'script|build|blocked|postinstall|preinstall|lifecycle|trust|warn|YN0*[1-9][0-9]*:' "$tmp/$label.install.log" |
    grep -vE 'YN00(85|13):' | grep -vE "${ALLOW:-^\$}" | paste -sd ';' || true)"
  if [ "$rc" -ne 0 ]; then
    ok=0
    cat "$tmp/$label.install.log" >&2
    fail "$label" "install exited $rc"
  fi
  if [ -n "$warnings" ]; then
    ok=0
    cat "$tmp/$label.install.log" >&2
    fail "$label" "the install printed: $warnings"
  fi
  if [ -s "$calls" ]; then
    ok=0
    fail "$label" "a compiler ran during the install: $(tr '\n' ';' <"$calls")"
  fi
  [ "$ok" -eq 1 ] && passed=$((passed + 1))
  results+=("$label|install exit $rc|${secs} s|warnings: ${warnings:-none}|compilers: $([ -s "$calls" ] && echo called || echo none)")
  say "$label: exit $rc in $secs s, warnings: ${warnings:-none}, compilers called: $([ -s "$calls" ] && cat "$calls" || echo none)"
}

smoke() { # <label> <project> <binary path pattern> <sha256 or -> <runtime and entry...>: one turn, the addon checked
  local label="$1" project="$2" where="$3" sha="$4"
  shift 4
  local out rc=0
  out="$(cd "$tmp/projects/$project" && engine timeout 120 "$@" "$label" "$image" 2>"$tmp/smoke.err")" || rc=$?
  local line
  line="$(grep '^{' <<<"$out" | tail -n1 || true)"
  if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
    fail "$label" "exit $rc: ${out:-} $(cat "$tmp/smoke.err")"
    return
  fi
  local bin
  bin="$(node -p 'JSON.parse(process.argv[1]).binary' "$line")"
  if ! grep -qE "$where" <<<"$bin"; then
    fail "$label" "the addon loaded from $bin, not $where"
    return
  fi
  if [ "$sha" != - ] && [ "$(sha256sum "$bin" | cut -d' ' -f1)" != "$sha" ]; then
    fail "$label" "$bin is not the published binary"
    return
  fi
  passed=$((passed + 1))
  replies+=("$label")
  say "$label: reply pong, addon ${bin#"$tmp/"}"
}

installed_platforms() { # <project>: the platform packages the install put down, by name
  find "$tmp/projects/$1" -type f -name package.json -path "*/${name}-*/package.json" -not -path '*/node_modules/*/node_modules/*/node_modules/*' \
    -exec node -p 'require(process.argv[1]).name' {} \; 2>/dev/null | sort -u | sed "s#^$name-##" | tr '\n' ' '
}

# The addon the platform package holds, wherever the package manager put that package.
in_platform_package="^$tmp/projects/[^/]+/.*/$name-$platform/$binary\$"
replies=()
registry_npmrc="registry=$registry"

# npm: the machine's.
dir="$(new_project npm)"
echo "$registry_npmrc" >"$dir/.npmrc"
install_with npm npm install --no-audit --no-fund "$name@$version"

# pnpm: its native build, with its defaults (its store under the private HOME).
dir="$(new_project pnpm)"
echo "$registry_npmrc" >"$dir/.npmrc"
install_with pnpm "$pnpm_bin" add "$name@$version"

# yarn berry, node_modules and Plug'n'Play; its cache inside the project.
for linker in node-modules pnp; do
  label="yarn-$linker"
  dir="$(new_project "$label")"
  touch "$dir/yarn.lock"
  cat >"$dir/.yarnrc.yml" <<YML
nodeLinker: $linker
npmRegistryServer: "${registry%/}"
unsafeHttpWhitelist: ["127.0.0.1"]
enableGlobalCache: false
enableTelemetry: false
YML
  install_with "$label" node "$yarn_js" add "$name@$version"
done

# bun.
dir="$(new_project bun)"
printf '[install]\nregistry = "%s"\n' "$registry" >"$dir/bunfig.toml"
install_with bun "$bun_bin" add "$name@$version"

for label in npm pnpm yarn-node-modules bun; do
  # Only this machine's platform package: the others' os, cpu and libc rule them out.
  got="$(installed_platforms "$label")"
  if [ "$got" = "$platform " ]; then
    passed=$((passed + 1))
    say "$label: platform packages installed: $got"
  else
    fail "$label" "platform packages installed: ${got:-none}, expected $platform only"
  fi
  smoke "$label/node-cjs" "$label" "$in_platform_package" "$published_sha" node smoke.cjs
  smoke "$label/node-esm" "$label" "$in_platform_package" "$published_sha" node smoke.mjs
  smoke "$label/bun-esm" "$label" "$in_platform_package" "$published_sha" "$bun_bin" --no-install smoke.mjs
  smoke "$label/bun-cjs" "$label" "$in_platform_package" "$published_sha" "$bun_bin" --no-install smoke.cjs
done
# Plug'n'Play resolves through yarn's runtime (.pnp.cjs): `yarn node`. An
# `import` needs yarn's ESM loader too (.pnp.loader.mjs), which yarn writes
# only when pnpEnableEsmLoader is set, and then says it is experimental
# (YN0092): the one message allowed in that second install.
smoke "yarn-pnp/node-cjs" yarn-pnp "$in_platform_package" "$published_sha" node "$yarn_js" node smoke.cjs
echo "pnpEnableEsmLoader: true" >>"$tmp/projects/yarn-pnp/.yarnrc.yml"
ALLOW='YN0092: .* ESM support for PnP uses the experimental loader API|YN0000: .* Done with warnings' \
  install_with yarn-pnp+esm-loader node "$yarn_js" install
smoke "yarn-pnp/node-esm" yarn-pnp "$in_platform_package" "$published_sha" node "$yarn_js" node smoke.mjs

# ---- from source: no platform package, the load error's command, a turn ----
dir="$(new_project source)"
echo "$registry_npmrc" >"$dir/.npmrc"
install_with source npm install --no-audit --no-fund --omit=optional "$name@$version"
installed="$(cd "$dir" && node -p "require('node:fs').realpathSync('node_modules/$name')")"
command_path="$(cd "$dir" && node -e '
  try { require(process.argv[1]); console.log("loaded"); }
  catch (e) {
    const m = e.code === "MERCURY_NO_NATIVE_BINARY" && /\n  node "([^"]+)"$/.exec(e.message);
    console.log(m ? m[1] : `unexpected: ${e.code} ${e.message}`);
  }' "$name")"
if [ "$command_path" != "$installed/scripts/build-from-source.js" ]; then
  fail source "the load error named ${command_path}, not $installed/scripts/build-from-source.js"
else
  passed=$((passed + 1))
  say "source: require throws MERCURY_NO_NATIVE_BINARY naming node \"${command_path#"$tmp/"}\""
  start=$EPOCHREALTIME
  rc=0
  (cd "$dir" && env -u CARGO_TARGET_DIR node "$command_path") >"$tmp/build.log" 2>&1 || rc=$?
  printf -v build_secs '%.0f' "$(echo "$EPOCHREALTIME - $start" | bc)"
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$tmp/build.log" >&2
    fail source "the build command exited $rc"
  elif [ -e "$installed/target" ]; then
    fail source "the build left cargo's target folder in the package"
  else
    passed=$((passed + 1))
    say "source: $(grep '^build-from-source: built' "$tmp/build.log" | sed "s#$tmp/##") (the command took $build_secs s)"
    results+=("source+build|build command exit 0|$build_secs s|a cold cargo release build|compilers: cargo, as asked")
    from_source="^$installed/$binary\$"
    smoke "source/node-cjs" source "$from_source" - node smoke.cjs
    smoke "source/bun-esm" source "$from_source" - "$bun_bin" --no-install smoke.mjs
  fi
fi

# ---- summary ----
say "installs (label | exit | time | warnings | compilers):"
for r in "${results[@]}"; do say "  ${r//|/ | }"; done
say "turns that replied with the expected addon: ${replies[*]}"
echo "registry-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

// Writes the root package's optionalDependencies (one platform package per
// napi target, at the root's version) into a staged copy of the root
// package.json: node scripts/optional-deps.mjs <staged package.json>
//
// They are not in the checkout's package.json: the platform packages are
// not on the registry until a release publishes them, and `npm ci` refuses a
// lock file without entries for them. napi's own release step
// (`napi pre-publish`) adds them the same way; this uses napi's config
// reader, so the package names are napi's (`<name>-<platformArchABI>`).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readNapiConfig } from "@napi-rs/cli";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const staged = process.argv[2];
if (!staged) {
  console.error("usage: node scripts/optional-deps.mjs <staged package.json>");
  process.exit(2);
}
const { targets, packageName, packageJson } = await readNapiConfig(path.join(root, "package.json"));
const pkg = JSON.parse(fs.readFileSync(staged, "utf8"));
pkg.optionalDependencies = Object.fromEntries(
  targets.map((t) => [`${packageName}-${t.platformArchABI}`, packageJson.version]),
);
fs.writeFileSync(staged, JSON.stringify(pkg, null, 2) + "\n");
console.log(Object.keys(pkg.optionalDependencies).join("\n"));

// Checks every manifest under deploy/kubernetes against Kubernetes' own OpenAPI schemas, offline:
// the npm package kubernetes-models (generated from those schemas, installed into .deps/ by
// scripts/setup) validates each object by its apiVersion and kind. An unknown kind, a missing
// required field, or a wrong type or value fails, naming the file, the object and the field.
// Unknown fields pass: the schemas allow them (kubectl's server-side validation would not).
//   node tests/deploy/validate_manifests.mjs <source dir>
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const source = process.argv[2];
const deps = path.join(source, ".deps", "node_modules");
const require = createRequire(path.join(deps, "noop.js"));
let yaml;
try {
  yaml = require("js-yaml");
  fs.accessSync(path.join(deps, "kubernetes-models", "package.json"));
} catch (e) {
  console.error(`kubernetes-models or js-yaml is missing in ${deps}: run scripts/setup (${e.message})`);
  process.exit(1);
}

// apiVersion "apps/v1" → kubernetes-models/apps/v1, "v1" → kubernetes-models/v1.
async function modelFor(apiVersion, kind) {
  const file = path.join(deps, "kubernetes-models", apiVersion, `${kind}.js`);
  if (!fs.existsSync(file)) throw new Error(`no schema for ${apiVersion} ${kind}`);
  const module = await import(pathToFileURL(file).href);
  return module[kind];
}

const root = path.join(source, "deploy", "kubernetes");
const files = [];
(function walk(dir) {
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (fs.statSync(p).isDirectory()) walk(p);
    else if (/\.ya?ml$/.test(name)) files.push(p);
  }
})(root);

let failures = 0, objects = 0;
for (const file of files) {
  for (const doc of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
    if (doc == null) continue;
    const what = `${path.relative(source, file)}: ${doc.kind} ${doc.metadata?.name}`;
    try {
      const Model = await modelFor(doc.apiVersion, doc.kind);
      new Model(doc).validate();
      objects++;
      console.log(`ok ${what}`);
    } catch (e) {
      failures++;
      console.error(`FAIL ${what}: ${e.message}`);
    }
  }
}
if (objects === 0) {
  console.error(`no manifests found under ${root}`);
  process.exit(1);
}
console.log(`${objects} objects valid, ${failures} invalid`);
process.exit(failures ? 1 : 0);

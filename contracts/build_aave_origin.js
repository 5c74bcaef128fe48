#!/usr/bin/env node
// Compiles the Aave v3.6 market contracts from the Solidity source of the npm package
// @aave-dao/aave-v3-origin (BUSL-1.1: compiled here at install time, never committed) with
// solc-js 0.8.27 and the settings of the package's foundry.toml at tag v3.6.0. Writes one
// {abi, bytecode, linkReferences} JSON per contract, plus stamp.json, into
// .cache/aave-v3-origin-<version>/ (git-ignored). A second run with the same inputs (compiler,
// settings, contract list, package versions) is a no-op; any change recompiles.
//
// Usage: node contracts/build_aave_origin.js [--node-modules DIR] [--out DIR] [--force]
// (npm run -s build:aave-origin). The Python devnet (keeper/devnet/artifacts.py) runs it on
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
const ORIGIN = '@aave-dao/aave-v3-origin';
const PACKAGES = [ORIGIN, '@openzeppelin/contracts', '@bgd-labs/solidity-utils', 'solc-0.8.27'];

// Source unit names as in the upstream foundry project (src/contracts/...), so link references
// read `src/contracts/protocol/libraries/logic/SupplyLogic.sol` -> `SupplyLogic`.
const REMAPPINGS = {
  'openzeppelin-contracts/contracts/': '@openzeppelin/contracts/',
  'solidity-utils/': '@bgd-labs/solidity-utils/src/',
};

// What a market needs (contract name -> source unit). The Pool links the first five libraries,
// the configurator ConfiguratorLogic, FlashLoanLogic itself links BorrowLogic.
const TARGETS = {
  PoolInstance: 'src/contracts/instances/PoolInstance.sol',
  PoolConfiguratorInstance: 'src/contracts/instances/PoolConfiguratorInstance.sol',
  ATokenInstance: 'src/contracts/instances/ATokenInstance.sol',
  VariableDebtTokenInstance: 'src/contracts/instances/VariableDebtTokenInstance.sol',
  PoolAddressesProvider: 'src/contracts/protocol/configuration/PoolAddressesProvider.sol',
  ACLManager: 'src/contracts/protocol/configuration/ACLManager.sol',
  AaveOracle: 'src/contracts/misc/AaveOracle.sol',
  AaveProtocolDataProvider: 'src/contracts/helpers/AaveProtocolDataProvider.sol',
  LiquidationDataProvider: 'src/contracts/helpers/LiquidationDataProvider.sol',
  DefaultReserveInterestRateStrategyV2: 'src/contracts/misc/DefaultReserveInterestRateStrategyV2.sol',
  SupplyLogic: 'src/contracts/protocol/libraries/logic/SupplyLogic.sol',
  BorrowLogic: 'src/contracts/protocol/libraries/logic/BorrowLogic.sol',
  LiquidationLogic: 'src/contracts/protocol/libraries/logic/LiquidationLogic.sol',
  PoolLogic: 'src/contracts/protocol/libraries/logic/PoolLogic.sol',
  FlashLoanLogic: 'src/contracts/protocol/libraries/logic/FlashLoanLogic.sol',
  ConfiguratorLogic: 'src/contracts/protocol/libraries/logic/ConfiguratorLogic.sol',
  // L2 markets: the sentinel the Pool asks before a liquidation, and Aave's own sequencer
  // uptime mock (a Chainlink-style latestRoundData: answer 1 = down, startedAt = since when).
  PriceOracleSentinel: 'src/contracts/misc/PriceOracleSentinel.sol',
  SequencerOracle: 'src/contracts/mocks/oracle/SequencerOracle.sol',
};

// foundry.toml of aave-v3-origin v3.6.0: solc 0.8.27, optimizer 200 runs, shanghai, no via-IR,
// bytecode_hash = "none".
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'shanghai',
  viaIR: false,
  metadata: { bytecodeHash: 'none' },
  remappings: Object.entries(REMAPPINGS).map(([from, to]) => `${from}=node_modules/${to}`),
};
const OUTPUT = ['abi', 'evm.bytecode.object', 'evm.bytecode.linkReferences'];

function packageVersion(name) {
  const file = path.join(nodeModules, name, 'package.json');
  if (!fs.existsSync(file)) {
    process.stderr.write(`build_aave_origin: ${name} is not installed in ${nodeModules}: run npm install\n`);
    process.exit(1);
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

// Source unit name -> file: `src/...` in the Aave package, `node_modules/...` (after remapping).
function resolveSource(unit) {
  if (unit.startsWith('src/')) return path.join(nodeModules, ORIGIN, unit);
  if (unit.startsWith('node_modules/')) return path.join(nodeModules, unit.slice('node_modules/'.length));
  return null;
}

function findImports(unit) {
  const file = resolveSource(unit);
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
  const outDir = option('--out', path.join(root, '.cache', `aave-v3-origin-${versions[ORIGIN]}`));
  const stampFile = path.join(outDir, 'stamp.json');
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify({ versions, settings: SETTINGS, output: OUTPUT, targets: TARGETS }))
    .digest('hex');
  if (!force && fs.existsSync(stampFile)) {
    const stamp = JSON.parse(fs.readFileSync(stampFile, 'utf8'));
    const complete = Object.keys(TARGETS).every((n) => fs.existsSync(path.join(outDir, `${n}.json`)));
    if (stamp.key === key && complete) {
      process.stdout.write(`aave-v3-origin ${versions[ORIGIN]}: up to date in ${path.relative(root, outDir) || outDir}\n`);
      return;
    }
  }

  const solc = require(path.join(nodeModules, 'solc-0.8.27'));
  const sources = {};
  for (const unit of new Set(Object.values(TARGETS))) sources[unit] = { content: findImports(unit).contents };
  const outputSelection = {};
  for (const [name, unit] of Object.entries(TARGETS)) {
    outputSelection[unit] = outputSelection[unit] || {};
    outputSelection[unit][name] = OUTPUT;
  }
  const input = { language: 'Solidity', sources, settings: { ...SETTINGS, outputSelection } };
  process.stdout.write(`aave-v3-origin ${versions[ORIGIN]}: compiling ${Object.keys(TARGETS).length} contracts with solc ${solc.version()} ...\n`);
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
      process.stderr.write(`build_aave_origin: no bytecode for ${name} in ${unit}\n`);
      process.exit(1);
    }
    const artifact = {
      contractName: name,
      sourceName: unit,
      source: `${ORIGIN}@${versions[ORIGIN]}`,
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
    `aave-v3-origin ${versions[ORIGIN]}: ${Object.keys(TARGETS).length} contracts from ` +
      `${stamp.sources} sources compiled in ${seconds.toFixed(1)} s -> ${path.relative(root, outDir) || outDir}\n`,
  );
}

main();

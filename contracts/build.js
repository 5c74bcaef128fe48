#!/usr/bin/env node
// Rebuilds contracts_abi/ from contracts/*.sol with the pinned solcjs, and extracts the
// ABIs of the external protocols the keeper talks to (Aave V3) so that the Python package
// needs no node_modules at run time. Usage: npm run build:contracts
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require('solc');

const root = path.resolve(__dirname, '..');
const srcDir = path.join(root, 'contracts');
const outDir = path.join(root, 'contracts_abi');

function compileOwn() {
  const sources = {};
  for (const f of fs.readdirSync(srcDir).filter((n) => n.endsWith('.sol')).sort()) {
    sources[f] = { content: fs.readFileSync(path.join(srcDir, f), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: 'paris',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  for (const e of out.errors || []) process.stderr.write(e.formattedMessage + '\n');
  if (errors.length) process.exit(1);
  for (const [file, contracts] of Object.entries(out.contracts)) {
    for (const [name, c] of Object.entries(contracts)) {
      const artifact = {
        contractName: name,
        sourceName: `contracts/${file}`,
        compiler: `solc ${solc.version()}`,
        abi: c.abi,
        bytecode: '0x' + c.evm.bytecode.object,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      };
      fs.writeFileSync(path.join(outDir, `${name}.json`), JSON.stringify(artifact, null, 2) + '\n');
      process.stdout.write(`contracts_abi/${name}.json\n`);
    }
  }
}

// ABI only (no bytecode): what the keeper calls at run time on any Aave V3 market.
const AAVE_ABIS = {
  IPool: 'interfaces/IPool.sol/IPool.json',
  IPoolAddressesProvider: 'interfaces/IPoolAddressesProvider.sol/IPoolAddressesProvider.json',
  IAaveOracle: 'interfaces/IAaveOracle.sol/IAaveOracle.json',
  IPoolDataProvider: 'interfaces/IPoolDataProvider.sol/IPoolDataProvider.json',
  IERC20Detailed: 'dependencies/openzeppelin/contracts/IERC20Detailed.sol/IERC20Detailed.json',
  IPoolConfigurator: 'interfaces/IPoolConfigurator.sol/IPoolConfigurator.json',
  IAToken: 'interfaces/IAToken.sol/IAToken.json',
  IStableDebtToken: 'interfaces/IStableDebtToken.sol/IStableDebtToken.json',
  IVariableDebtToken: 'interfaces/IVariableDebtToken.sol/IVariableDebtToken.json',
};

function extractAave() {
  const base = path.join(root, 'node_modules/@aave/core-v3/artifacts/contracts');
  const dir = path.join(outDir, 'aave_v3');
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, rel] of Object.entries(AAVE_ABIS)) {
    const a = JSON.parse(fs.readFileSync(path.join(base, rel), 'utf8'));
    const out = { contractName: name, source: `@aave/core-v3@1.19.3 ${a.sourceName}`, abi: a.abi };
    fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(out, null, 2) + '\n');
    process.stdout.write(`contracts_abi/aave_v3/${name}.json\n`);
  }
}

// The Uniswap V3 interfaces the keeper calls at run time (quotes for flash liquidations, pool
// prices for the oracle-deviation breaker).
const UNISWAP_ABIS = {
  IUniswapV3Factory: '@uniswap/v3-core/artifacts/contracts/interfaces/IUniswapV3Factory.sol/IUniswapV3Factory.json',
  IUniswapV3Pool: '@uniswap/v3-core/artifacts/contracts/interfaces/IUniswapV3Pool.sol/IUniswapV3Pool.json',
  IQuoterV2: '@uniswap/v3-periphery/artifacts/contracts/interfaces/IQuoterV2.sol/IQuoterV2.json',
  ISwapRouter: '@uniswap/v3-periphery/artifacts/contracts/interfaces/ISwapRouter.sol/ISwapRouter.json',
};

function extractUniswap() {
  const dir = path.join(outDir, 'uniswap_v3');
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, rel] of Object.entries(UNISWAP_ABIS)) {
    const a = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', rel), 'utf8'));
    const out = { contractName: name, source: rel.split('/artifacts/')[0], abi: a.abi };
    fs.writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(out, null, 2) + '\n');
    process.stdout.write(`contracts_abi/uniswap_v3/${name}.json\n`);
  }
}

fs.mkdirSync(outDir, { recursive: true });
compileOwn();
extractAave();
extractUniswap();

"""The L1 data fee an L2 charges on top of L2 gas, read from the chain.

Three models (the ``l1_fee_model`` setting; by default from the chain id where it is known):

- ``none``: L1 chains, and chains whose L2 gas is the whole cost.
- ``op_stack``: the ``GasPriceOracle`` predeploy (``0x42...0F``). Since Fjord,
  ``getL1FeeUpperBound(unsignedTxSize)``: the fee of a transaction of that size at the worst
  FastLZ compression (99.99% of transactions pay less). Before Fjord that function reverts and
  ``getL1Fee(bytes)`` of an incompressible stand-in of the same size is asked instead (Ecotone
  prices non-zero bytes highest, so that is a bound too). The fee is paid in wei on top of L2
  gas; OP-stack receipts report it as ``l1Fee``.
- ``arbitrum``: ``NodeInterface`` (``0x...C8``, a virtual contract: only ``eth_call`` reaches it)
  ``gasEstimateL1Component(to, false, data)`` -> ``(gasEstimateForL1, baseFee,
  l1BaseFeeEstimate)``. The L1 part is in L2 gas units, charged at the L2 gas price; it is padded
  by 10% as Arbitrum's documentation recommends (the estimate itself is unpadded), and asked for
  an incompressible stand-in of the calldata (brotli compresses real calldata better).

The transaction is sized, not built: the keeper prices a plan before it has the exact call, so
:func:`unsigned_tx_size_bound` bounds an EIP-1559 transaction with that much calldata (every
field at its largest plausible width). One read per cycle that has candidates; none otherwise.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

import structlog
from eth_utils.crypto import keccak

from keeper.chain.abi import Codec
from keeper.errors import ConfigError, ContractRevertError, RpcError

if TYPE_CHECKING:
    from keeper.chain.client import ChainClient

log = structlog.get_logger(__name__)

GAS_PRICE_ORACLE = "0x420000000000000000000000000000000000000F"
NODE_INTERFACE = "0x00000000000000000000000000000000000000C8"


class L1FeeModel(StrEnum):
    """How a chain charges for posting a transaction's data to L1."""

    NONE = "none"
    OP_STACK = "op_stack"
    ARBITRUM = "arbitrum"


# Chains whose model is known (chain id -> model); others default to none, with a warning.
KNOWN_CHAINS: dict[int, L1FeeModel] = {
    1: L1FeeModel.NONE,  # Ethereum
    11155111: L1FeeModel.NONE,  # Sepolia
    31337: L1FeeModel.NONE,  # Anvil / Hardhat
    137: L1FeeModel.NONE,  # Polygon PoS
    43114: L1FeeModel.NONE,  # Avalanche C-Chain
    100: L1FeeModel.NONE,  # Gnosis
    56: L1FeeModel.NONE,  # BNB Chain
    10: L1FeeModel.OP_STACK,  # OP Mainnet
    8453: L1FeeModel.OP_STACK,  # Base
    84532: L1FeeModel.OP_STACK,  # Base Sepolia
    11155420: L1FeeModel.OP_STACK,  # OP Sepolia
    130: L1FeeModel.OP_STACK,  # Unichain
    480: L1FeeModel.OP_STACK,  # World Chain
    1868: L1FeeModel.OP_STACK,  # Soneium
    57073: L1FeeModel.OP_STACK,  # Ink
    42161: L1FeeModel.ARBITRUM,  # Arbitrum One
    42170: L1FeeModel.ARBITRUM,  # Arbitrum Nova
    421614: L1FeeModel.ARBITRUM,  # Arbitrum Sepolia
}

_UINT = {"name": "", "type": "uint256"}
GAS_PRICE_ORACLE_ABI = Codec(
    [
        {
            "type": "function",
            "name": "getL1FeeUpperBound",
            "inputs": [{"name": "_unsignedTxSize", "type": "uint256"}],
            "outputs": [_UINT],
            "stateMutability": "view",
        },
        {
            "type": "function",
            "name": "getL1Fee",
            "inputs": [{"name": "_data", "type": "bytes"}],
            "outputs": [_UINT],
            "stateMutability": "view",
        },
    ]
)
NODE_INTERFACE_ABI = Codec(
    [
        {
            "type": "function",
            "name": "gasEstimateL1Component",
            "inputs": [
                {"name": "to", "type": "address"},
                {"name": "contractCreation", "type": "bool"},
                {"name": "data", "type": "bytes"},
            ],
            "outputs": [
                {"name": "gasEstimateForL1", "type": "uint64"},
                {"name": "baseFee", "type": "uint256"},
                {"name": "l1BaseFeeEstimate", "type": "uint256"},
            ],
            "stateMutability": "payable",
        }
    ]
)
# Arbitrum's docs: pad gasEstimateL1Component by 10% before relying on it.
ARBITRUM_PAD_NUM, ARBITRUM_PAD_DEN = 11, 10
# An unsigned EIP-1559 transaction, each field at its largest plausible width: type (1), list
# header (3), chain id, nonce and gas limit (9 each: up to 8-byte values), tip and max fee (17
# each: up to 16-byte values), to (21), value 0 (1), calldata header (3), empty access list (1).
_TX_ENVELOPE_BOUND = 1 + 3 + 9 + 9 + 17 + 17 + 9 + 21 + 1 + 3 + 1


def unsigned_tx_size_bound(calldata_bytes: int) -> int:
    """A bound on the unsigned RLP size of an EIP-1559 transaction with that much calldata."""
    return _TX_ENVELOPE_BOUND + calldata_bytes


def incompressible(size: int) -> bytes:
    """``size`` bytes that no compressor shrinks (a keccak chain; deterministic)."""
    out, block = b"", b"keeper-l1-fee"
    while len(out) < size:
        block = keccak(block)
        out += block
    return out[:size]


def resolve_model(configured: L1FeeModel | None, chain_id: int) -> L1FeeModel:
    """The configured model, else the chain's known one, else none (logged as a guess)."""
    if configured is not None:
        return configured
    known = KNOWN_CHAINS.get(chain_id)
    if known is None:
        log.warning(
            "l1_fee_model_unknown",
            chain_id=chain_id,
            note='assuming "none"; set l1_fee_model if this chain charges an L1 data fee',
        )
        return L1FeeModel.NONE
    return known


class L1FeeReader:
    """The L1 data fee of one transaction, in wei, under the chain's model."""

    def __init__(self, client: ChainClient, model: L1FeeModel) -> None:
        self.client = client
        self.model = model
        self._at: tuple[int, int, int] | None = None  # (block, calldata bytes, fee) last read

    async def fee_wei(
        self, calldata_bytes: int, gas_price_wei: int, *, to: str, block: int | None = None
    ) -> int:
        """The L1 fee of a transaction to ``to`` with ``calldata_bytes`` of calldata.

        ``gas_price_wei`` prices Arbitrum's L1 gas units. With ``block``, a second ask at the
        same block and size is answered from memory.
        """
        if self.model is L1FeeModel.NONE:
            return 0
        if block is not None and self._at is not None and self._at[:2] == (block, calldata_bytes):
            return self._at[2]
        if self.model is L1FeeModel.OP_STACK:
            fee = await self._op_stack(unsigned_tx_size_bound(calldata_bytes))
        else:
            fee = await self._arbitrum(to, calldata_bytes, gas_price_wei)
        if block is not None:
            self._at = (block, calldata_bytes, fee)
        return fee

    async def _op_stack(self, size: int) -> int:
        codec = GAS_PRICE_ORACLE_ABI
        try:
            raw = await self.client.call(GAS_PRICE_ORACLE, codec.encode("getL1FeeUpperBound", size))
            return int(codec.decode("getL1FeeUpperBound", raw)[0])
        except ContractRevertError:  # before Fjord: no upper-bound function
            raw = await self.client.call(
                GAS_PRICE_ORACLE, codec.encode("getL1Fee", incompressible(size))
            )
            return int(codec.decode("getL1Fee", raw)[0])

    async def _arbitrum(self, to: str, calldata_bytes: int, gas_price_wei: int) -> int:
        codec = NODE_INTERFACE_ABI
        data = codec.encode("gasEstimateL1Component", to, False, incompressible(calldata_bytes))
        raw = await self.client.call(NODE_INTERFACE, data)
        l1_gas = int(codec.decode("gasEstimateL1Component", raw)[0])
        padded = -(-l1_gas * ARBITRUM_PAD_NUM // ARBITRUM_PAD_DEN)
        return padded * gas_price_wei

    async def check(self, to: str) -> None:
        """At start: the model's contract answers on this chain, else a ConfigError (exit 2)."""
        if self.model is L1FeeModel.NONE:
            return
        where = GAS_PRICE_ORACLE if self.model is L1FeeModel.OP_STACK else NODE_INTERFACE
        what = "GasPriceOracle" if self.model is L1FeeModel.OP_STACK else "NodeInterface"
        try:
            await self.fee_wei(0, 1, to=to)
        except RpcError as exc:
            raise ConfigError(
                f'l1_fee_model: "{self.model.value}" but the {what} at {where} does not answer '
                f"on this chain ({exc}); set l1_fee_model to the chain's model "
                '("none", "op_stack" or "arbitrum") or check rpc_url'
            ) from None


async def open_reader(
    configured: str | None, client: ChainClient, chain_id: int, to: str
) -> L1FeeReader | None:
    """The chain's L1 data fee reader, checked against the chain; None: no L1 fee.

    ``configured``: the ``l1_fee_model`` setting (None: from the chain id).
    """
    model = resolve_model(None if configured is None else L1FeeModel(configured), chain_id)
    if model is L1FeeModel.NONE:
        return None
    reader = L1FeeReader(client, model)
    await reader.check(to)
    log.info("l1_fee_model", model=model.value, chain_id=chain_id)
    return reader

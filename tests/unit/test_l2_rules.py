"""L2 rules without a node: the sentinel's 0.95 bypass, the L1 data fee in the profit, the
Arbitrum NodeInterface read (against a test double of the node), and the setting's checks.
"""

from __future__ import annotations

import json

import pytest
import pytest_asyncio
from aiohttp import web
from eth_abi.abi import decode, encode

from keeper.chain.client import ChainClient
from keeper.chain.l1_fee import (
    GAS_PRICE_ORACLE,
    NODE_INTERFACE,
    L1FeeModel,
    L1FeeReader,
    incompressible,
    resolve_model,
    unsigned_tx_size_bound,
)
from keeper.chain.types import Receipt
from keeper.core.plan import Plan, Skip, SkipKind
from keeper.errors import ConfigError
from keeper.loop.attempt import bid_limits
from keeper.protocols.aave_v3.events import SENTINEL_UPDATED, EventDecoder
from keeper.protocols.aave_v3.sentinel import (
    MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
    NO_SENTINEL,
    SentinelView,
)
from keeper.settings import load_settings
from keeper.strategy.bidding import BidPolicy
from keeper.strategy.gas import GasPricing
from tests.unit.test_strategy import USDC, WETH, UserReserve, _choose

WAD = 10**18
SENTINEL = "0x" + "5e" * 20


def test_the_sentinel_bypass_is_strictly_under_095():
    """While the sentinel refuses, only HF < 0.95e18 passes (0.95e18 itself does not, as in
    ValidationLogic); with it allowing, or with no sentinel, every account passes.
    """
    assert MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD == 95 * 10**16
    held = SentinelView(SENTINEL, liquidation_allowed=False, block=7)
    assert held.allows(MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD - 1)
    assert not held.allows(MINIMUM_HEALTH_FACTOR_LIQUIDATION_THRESHOLD)
    assert not held.allows(WAD - 1)
    assert SentinelView(SENTINEL, liquidation_allowed=True).allows(WAD - 1)
    assert NO_SENTINEL.allows(WAD - 1)
    assert SENTINEL in held.held_reason() and "0.95" in held.held_reason()


def test_the_providers_sentinel_event_is_followed():
    """The provider's PriceOracleSentinelUpdated log is in the filter and marks the sentinel
    as changed (its address is then read again); without a provider nothing changes.
    """
    pool, conf, oracle, provider = ("0x" + c * 40 for c in "1234")
    decoder = EventDecoder(pool, conf, oracle, provider)
    assert provider in decoder.addresses()
    assert SENTINEL_UPDATED in decoder.topics()
    log = {
        "address": provider,
        "blockNumber": "0x5",
        "topics": [SENTINEL_UPDATED, "0x" + "00" * 32, "0x" + "00" * 12 + SENTINEL[2:]],
        "data": "0x",
    }
    assert decoder.apply([log]).sentinel_changed
    assert SENTINEL_UPDATED not in EventDecoder(pool, conf, oracle).topics()


POSITIONS = [
    UserReserve(WETH, 10 * 10**18, 0, 0, True),
    UserReserve(USDC, 0, 0, 10_000 * 10**6, False),
]


def test_a_plan_that_only_the_l1_fee_makes_unprofitable_has_its_own_kind():
    """Gross profit covers the L2 gas but not the L2 gas plus the L1 data fee: the skip kind is
    ``unprofitable_l1_fee`` and its reason names the fee; when the L2 gas alone already eats
    the profit, it stays ``unprofitable``.
    """
    plan = _choose(POSITIONS)
    assert isinstance(plan, Plan)
    gross = plan.gross_profit_base
    l2_gas = gross // 2
    skip = _choose(POSITIONS, gas_cost_base=l2_gas + gross, l1_fee_base=gross, min_profit_base=1)
    assert isinstance(skip, Skip) and skip.kind is SkipKind.UNPROFITABLE_L1_FEE
    assert f"L1 data fee {gross}" in skip.reason
    skip = _choose(POSITIONS, gas_cost_base=2 * gross, l1_fee_base=1, min_profit_base=1)
    assert isinstance(skip, Skip) and skip.kind is SkipKind.UNPROFITABLE
    kept = _choose(POSITIONS, gas_cost_base=l2_gas + 10, l1_fee_base=10)
    assert isinstance(kept, Plan) and kept.expected_profit_base == gross - l2_gas - 10


def test_gas_pricing_adds_the_l1_fee_once_and_rounds_up():
    """A transaction's cost is (gas x price + L1 fee) x native price, rounded up once; the
    break-even gas price leaves the L1 fee out of the margin first.
    """
    pricing = GasPricing(gas_price_wei=10**9, native_price=2000 * 10**8, l1_fee_wei=10**12 + 1)
    wei = 300_000 * 10**9 + 10**12 + 1
    assert pricing.cost_base(300_000) == -(-wei * 2000 * 10**8 // 10**18)
    assert pricing.l1_fee_base() == -(-(10**12 + 1) * 2000 * 10**8 // 10**18)
    plan = _choose(POSITIONS, gas_estimate=500_000)
    assert isinstance(plan, Plan)
    policy = BidPolicy(share_bps=5000, max_tip=10**12, max_fee=10**15)
    without = bid_limits(plan, 0, GasPricing(10**9, 2000 * 10**8), policy)
    with_l1 = bid_limits(plan, 0, pricing, policy)
    assert without is not None and with_l1 is not None
    assert with_l1.break_even < without.break_even


def test_the_model_comes_from_the_chain_id_unless_set():
    """Base and OP Mainnet are OP stack, Arbitrum One is arbitrum, Ethereum none; a set model
    wins; an unknown chain is none.
    """
    assert resolve_model(None, 8453) is L1FeeModel.OP_STACK
    assert resolve_model(None, 10) is L1FeeModel.OP_STACK
    assert resolve_model(None, 42161) is L1FeeModel.ARBITRUM
    assert resolve_model(None, 1) is L1FeeModel.NONE
    assert resolve_model(None, 999_999_999) is L1FeeModel.NONE
    assert resolve_model(L1FeeModel.NONE, 8453) is L1FeeModel.NONE


def test_a_wrong_model_value_names_the_key_and_the_choices(monkeypatch):
    """``l1_fee_model = "optimism"`` is refused with the key, the accepted values and the fix."""
    monkeypatch.delenv("KEEPER_L1_FEE_MODEL", raising=False)
    with pytest.raises(ConfigError) as err:
        load_settings(
            rpc_url="http://127.0.0.1:8545",
            pool_addresses_provider="0x" + "12" * 20,
            l1_fee_model="optimism",
        )
    message = str(err.value)
    assert "l1_fee_model" in message and "op_stack" in message and "arbitrum" in message
    assert "KEEPER_L1_FEE_MODEL" in message


def test_an_op_stack_receipt_counts_its_l1_fee_in_the_gas_cost():
    """``l1Fee`` of an OP-stack receipt is part of what the transaction paid."""
    raw = {
        "transactionHash": "0x" + "ab" * 32,
        "blockNumber": "0x10",
        "transactionIndex": "0x0",
        "status": "0x1",
        "gasUsed": "0x5208",
        "effectiveGasPrice": "0x3b9aca00",
        "l1Fee": "0x64",
        "logs": [],
    }
    assert Receipt.from_rpc(raw).gas_cost_wei == 21_000 * 10**9 + 100
    del raw["l1Fee"]
    assert Receipt.from_rpc(raw).gas_cost_wei == 21_000 * 10**9


def test_the_size_bound_covers_a_real_liquidation_transaction():
    """An EIP-1559 liquidationCall with large fields stays within the bound."""
    import rlp  # type: ignore[import-untyped]  # no stubs; only this test builds a transaction

    calldata = b"\xff" * 164
    fields = [42161, 2**40, 2**100, 2**100, 2**30, b"\x11" * 20, 0, calldata, []]
    size = 1 + len(rlp.encode(fields))
    assert size <= unsigned_tx_size_bound(len(calldata))
    assert len(set(incompressible(64))) > 40  # no long runs for a compressor to find


class L1Node:
    """A test double of an L2 node's JSON-RPC endpoint on 127.0.0.1: it answers ``eth_call`` to
    NodeInterface (``0x...C8``, which no local node has) and to the GasPriceOracle, from fixed
    figures, and records the calls it decoded.
    """

    def __init__(self, *, l1_gas: int = 0, upper_bound: int | None = None, fee: int = 0) -> None:
        self.l1_gas, self.upper_bound, self.fee = l1_gas, upper_bound, fee
        self.calls: list[tuple[str, bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        """One eth_call: decode it, answer it (or revert as a pre-Fjord oracle would)."""
        body = await request.json()
        to, data = body["params"][0]["to"].lower(), bytes.fromhex(body["params"][0]["data"][2:])
        self.calls.append((to, data))
        ok: dict[str, object] = {"jsonrpc": "2.0", "id": body["id"]}
        if to == NODE_INTERFACE.lower():
            answer = encode(["uint64", "uint256", "uint256"], [self.l1_gas, 10**7, 3 * 10**10])
        elif self.upper_bound is not None or data[:4] != _selector("getL1FeeUpperBound(uint256)"):
            value = self.upper_bound if self.upper_bound is not None else self.fee
            answer = encode(["uint256"], [value])
        else:
            revert = {"code": 3, "message": "execution reverted", "data": "0x08c379a0"}
            return web.json_response({**ok, "error": revert})
        return web.json_response({**ok, "result": "0x" + answer.hex()})


def _selector(signature: str) -> bytes:
    from eth_utils.crypto import keccak

    return keccak(text=signature)[:4]


@pytest_asyncio.fixture
async def serve():
    runners: list[web.AppRunner] = []

    async def start(node: L1Node) -> str:
        app = web.Application()
        app.router.add_post("/", node.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"  # type: ignore[union-attr]

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_arbitrum_l1_component_is_padded_and_priced_at_the_l2_gas_price(serve):
    """NodeInterface.gasEstimateL1Component (answered by the test double) is asked for the
    target and an incompressible calldata stand-in of the bound's size; its L1 gas, padded by
    10% and rounded up, is paid at the L2 gas price.
    """
    node = L1Node(l1_gas=12_345)
    async with ChainClient(await serve(node), retry_s=0) as client:
        reader = L1FeeReader(client, L1FeeModel.ARBITRUM)
        pool = "0x" + "77" * 20
        fee = await reader.fee_wei(324, 10**7, to=pool, block=9)
        assert fee == 13_580 * 10**7  # ceil(12345 x 1.1) = 13580
        assert await reader.fee_wei(324, 10**7, to=pool, block=9) == fee  # same block: no read
    assert len(node.calls) == 1
    to, data = node.calls[0]
    assert to == NODE_INTERFACE.lower() and data[:4] == _selector(
        "gasEstimateL1Component(address,bool,bytes)"
    )
    target, creation, stand_in = decode(["address", "bool", "bytes"], data[4:])
    assert target == pool and creation is False and stand_in == incompressible(324)


@pytest.mark.asyncio
async def test_op_stack_asks_the_upper_bound_and_falls_back_before_fjord(serve):
    """After Fjord the oracle's getL1FeeUpperBound(size) is the fee; an oracle that reverts
    it (before Fjord) is asked getL1Fee of an incompressible transaction of that size.
    """
    fjord = L1Node(upper_bound=777)
    async with ChainClient(await serve(fjord), retry_s=0) as client:
        assert (
            await L1FeeReader(client, L1FeeModel.OP_STACK).fee_wei(324, 1, to="0x" + "00" * 20)
            == 777
        )
    (size,) = decode(["uint256"], fjord.calls[0][1][4:])
    assert fjord.calls[0][0] == GAS_PRICE_ORACLE.lower() and size == unsigned_tx_size_bound(324)
    ecotone = L1Node(fee=555)
    async with ChainClient(await serve(ecotone), retry_s=0) as client:
        reader = L1FeeReader(client, L1FeeModel.OP_STACK)
        assert await reader.fee_wei(324, 1, to="0x" + "00" * 20) == 555
    assert [c[1][:4] for c in ecotone.calls] == [
        _selector("getL1FeeUpperBound(uint256)"),
        _selector("getL1Fee(bytes)"),
    ]
    (tx,) = decode(["bytes"], ecotone.calls[1][1][4:])
    assert tx == incompressible(unsigned_tx_size_bound(324))


@pytest.mark.asyncio
async def test_a_model_the_chain_does_not_have_stops_the_start(serve):
    """``op_stack`` on a node whose predeploy answers nothing is a ConfigError naming the key,
    the contract and the values to choose from.
    """

    async def empty(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": "0x"})

    node = L1Node()
    node.handle = empty  # type: ignore[method-assign]
    async with ChainClient(await serve(node), retry_s=0) as client:
        with pytest.raises(ConfigError) as err:
            await L1FeeReader(client, L1FeeModel.OP_STACK).check("0x" + "00" * 20)
    assert "l1_fee_model" in str(err.value) and "GasPriceOracle" in str(err.value)
    assert json.dumps("none") in str(err.value)

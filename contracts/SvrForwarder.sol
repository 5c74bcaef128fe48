// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DevnetOwned} from "./DevnetOwned.sol";

/// @title SvrForwarder
/// @notice A devnet stand-in for Chainlink's AuthorizedForwarder, through which an SVR node
///         sends its reports: the node's account calls forward(aggregator,
///         transmitSecondary(...)) on its forwarder, and the aggregator sees the forwarder as
///         the transmitter. Only the owner may forward; a revert of the call is passed up
///         unchanged. DEVNET ONLY: no authorized-senders list, no ownership handover protocol.
contract SvrForwarder is DevnetOwned {
    error NotAContract();

    /// @notice Call `to` with `data` (no value); a revert there reverts here with the same data.
    function forward(address to, bytes calldata data) external onlyOwner {
        if (to.code.length == 0) revert NotAContract();
        (bool ok, bytes memory result) = to.call(data);
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
    }
}

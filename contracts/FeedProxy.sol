// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IFeed {
    function decimals() external view returns (uint8);
    function latestAnswer() external view returns (int256);
    function latestTimestamp() external view returns (uint256);
    function latestRound() external view returns (uint256);
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80);
}

/// @title FeedProxy
/// @notice A Chainlink-style proxy in front of an aggregator, like EACAggregatorProxy: reads are
///         forwarded; the aggregator (not the proxy) emits AnswerUpdated. The owner can switch
///         aggregators, as Chainlink does when it upgrades a feed.
contract FeedProxy {
    event AggregatorChanged(address indexed previous, address indexed current);

    error NotOwner();

    address public owner;
    address public aggregator;

    constructor(address aggregator_) {
        owner = msg.sender;
        aggregator = aggregator_;
        emit AggregatorChanged(address(0), aggregator_);
    }

    function setAggregator(address aggregator_) external {
        if (msg.sender != owner) revert NotOwner();
        emit AggregatorChanged(aggregator, aggregator_);
        aggregator = aggregator_;
    }

    function decimals() external view returns (uint8) {
        return IFeed(aggregator).decimals();
    }

    function latestAnswer() external view returns (int256) {
        return IFeed(aggregator).latestAnswer();
    }

    function latestTimestamp() external view returns (uint256) {
        return IFeed(aggregator).latestTimestamp();
    }

    function latestRound() external view returns (uint256) {
        return IFeed(aggregator).latestRound();
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return IFeed(aggregator).latestRoundData();
    }
}

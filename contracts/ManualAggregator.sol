// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {DevnetOwned} from "./DevnetOwned.sol";

/// @title ManualAggregator
/// @notice A Chainlink-style price feed whose answer its owner sets. It speaks the
///         AggregatorV2V3 read interface (latestAnswer, latestRoundData, getRoundData, ...)
///         and emits AnswerUpdated + NewRound on every update, exactly like an OCR
///         aggregator, so a keeper that follows real feeds follows this one unchanged.
///         Besides setAnswer, its owner or its transmitter can report through the two OCR2
///         entry points of Chainlink's aggregators: transmit (the standard feed) and
///         transmitSecondary (the SVR path, sent privately through MEV-Share on Ethereum).
///         DEVNET ONLY: reports are not verified (no signatures, no config digest, no epoch
///         or round checks); the answer is the report's median observation.
contract ManualAggregator is DevnetOwned {
    struct Round {
        int256 answer;
        uint64 startedAt;
        uint64 updatedAt;
    }

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);
    event TransmitterSet(address indexed previousTransmitter, address indexed newTransmitter);

    error NoData();
    error NotTransmitter();
    error NoObservations();

    uint8 public immutable decimals;
    string public description;
    uint256 public constant version = 4;
    /// @notice Who besides the owner may call transmit / transmitSecondary (an SVR node's
    ///         forwarder on a real feed); zero until the owner sets it.
    address public transmitter;
    uint80 public latestRound;
    mapping(uint256 => Round) private rounds;

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer) {
        decimals = decimals_;
        description = description_;
        _update(initialAnswer);
    }

    /// @notice Start a new round with this answer (any sign: a feed can report 0 or less,
    ///         and a consumer must cope with that).
    function setAnswer(int256 answer) external onlyOwner {
        _update(answer);
    }

    /// @notice Let `newTransmitter` (zero: nobody but the owner) call transmit and
    ///         transmitSecondary.
    function setTransmitter(address newTransmitter) external onlyOwner {
        emit TransmitterSet(transmitter, newTransmitter);
        transmitter = newTransmitter;
    }

    /// @notice The standard OCR2 report path. `report` is
    ///         abi.encode(bytes32 observationsTimestamp, bytes32 rawObservers,
    ///         int192[] observations, int192 juelsPerFeeCoin); the new answer is
    ///         observations[len / 2] (the median of a sorted list, as OCR2 sends it).
    ///         DEVNET ONLY: reportContext, rs, ss and rawVs are ignored, nothing is verified;
    ///         only the owner or the transmitter may call.
    function transmit(
        bytes32[3] calldata reportContext,
        bytes calldata report,
        bytes32[] calldata rs,
        bytes32[] calldata ss,
        bytes32 rawVs
    ) external {
        _transmit(reportContext, report, rs, ss, rawVs);
    }

    /// @notice The SVR report path (Chainlink's secondary transmission, on Ethereum sent
    ///         privately through MEV-Share): the same report and the same effect as transmit.
    ///         DEVNET ONLY: nothing is verified; only the owner or the transmitter may call.
    function transmitSecondary(
        bytes32[3] calldata reportContext,
        bytes calldata report,
        bytes32[] calldata rs,
        bytes32[] calldata ss,
        bytes32 rawVs
    ) external {
        _transmit(reportContext, report, rs, ss, rawVs);
    }

    function latestAnswer() external view returns (int256) {
        return rounds[latestRound].answer;
    }

    function latestTimestamp() external view returns (uint256) {
        return rounds[latestRound].updatedAt;
    }

    function getAnswer(uint256 roundId) external view returns (int256) {
        return rounds[roundId].answer;
    }

    function getTimestamp(uint256 roundId) external view returns (uint256) {
        return rounds[roundId].updatedAt;
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _roundData(latestRound);
    }

    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _roundData(roundId);
    }

    function _roundData(uint80 roundId)
        private
        view
        returns (uint80, int256, uint256, uint256, uint80)
    {
        Round memory r = rounds[roundId];
        if (r.updatedAt == 0) revert NoData();
        return (roundId, r.answer, r.startedAt, r.updatedAt, roundId);
    }

    function _transmit(
        bytes32[3] calldata,
        bytes calldata report,
        bytes32[] calldata,
        bytes32[] calldata,
        bytes32
    ) private {
        if (msg.sender != owner && msg.sender != transmitter) revert NotTransmitter();
        (, , int192[] memory observations, ) = abi.decode(report, (bytes32, bytes32, int192[], int192));
        if (observations.length == 0) revert NoObservations();
        _update(observations[observations.length / 2]);
    }

    function _update(int256 answer) private {
        uint80 roundId = latestRound + 1;
        latestRound = roundId;
        rounds[roundId] = Round(answer, uint64(block.timestamp), uint64(block.timestamp));
        emit NewRound(roundId, msg.sender, block.timestamp);
        emit AnswerUpdated(answer, roundId, block.timestamp);
    }
}

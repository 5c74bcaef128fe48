"""The baseline liquidation bot the benchmarks race against (bench/baseline/bot.py)."""

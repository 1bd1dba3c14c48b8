"""The upstream model token ledger: packages, prices, model calls, cost report."""

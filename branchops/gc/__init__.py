"""Branch-aware garbage collection: what no ref or retained commit reaches is deleted."""

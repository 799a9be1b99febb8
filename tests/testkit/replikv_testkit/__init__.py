"""Test-only replikv schemes (planted bugs, toys), registered through the entry-point
group ``replikv.schemes``. Product code never imports this package (tests/test_layers.py)."""

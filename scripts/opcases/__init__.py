# The parity-case generators of scripts/gen_opcases.py, one module per op family.

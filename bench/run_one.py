"""Scratch: run one burst to see the figures (python -m bench.run_one BACKEND COUNT)."""
import sys

from bench.burst import bellhop_burst, naive_burst, raw_capacity
from bench.harness import Stack

stack = Stack(sys.argv[1])
try:
    print("raw", raw_capacity(stack, int(sys.argv[2])))
    print("bellhop", bellhop_burst(stack, int(sys.argv[2])))
    if len(sys.argv) > 3:
        print("naive", naive_burst(stack, int(sys.argv[3])))
finally:
    stack.close()

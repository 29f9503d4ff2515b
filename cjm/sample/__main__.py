"""`python -m cjm.sample --out DIR [...]`: the `cjm sample` command, with the same options."""

import sys

from cjm.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["sample", *sys.argv[1:]]))

"""`python -m llamadoctor`: the same CLI, and the entry torchrun uses (`torchrun -m llamadoctor run ...`)."""

from __future__ import annotations

from llamadoctor.cli import main

if __name__ == "__main__":
    main()

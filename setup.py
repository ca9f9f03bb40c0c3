"""Build hook: the wheel carries the shipped rulebook (``rules/``) and the policy texts it quotes (``sources/``), with the example enterprises.

They stay where analysts edit them, at the top of the repository; building a wheel copies them into
``incentives/_data/`` so an installed package assesses without a checkout. An editable install reads
the repository's folders directly (see ``incentives.shipped``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# The rule tests read the example enterprises (../../examples/enterprises), so those ship too.
SHIPPED = {"rules": ("*.yaml", "tests/*.yaml"), "sources": ("*.txt",), "examples": ("enterprises/*.yaml",)}


class BuildPyWithRules(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "incentives" / "_data"
        for folder, patterns in SHIPPED.items():
            for pattern in patterns:
                for source in sorted((ROOT / folder).glob(pattern)):
                    dest = target / folder / source.relative_to(ROOT / folder)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, dest)


setup(cmdclass={"build_py": BuildPyWithRules})

"""Evaluate a checkpoint: ``python evaluate.py ckpt_path=PATH [experiment=NAME] [overrides]`` (see README)."""

import os
from pathlib import Path

os.environ.setdefault("HAR_ROOT", str(Path(__file__).resolve().parent))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from har.run.cli import prepare_evaluate, run_main, user_errors  # noqa: E402 - no torch: a bad command line is reported at once


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with user_errors(cfg):
        prepare_evaluate(cfg)  # ckpt_path given and resolved (last: the newest run) before torch loads
        from har.run.pipeline import evaluate  # torch and Lightning: only once the config composed

        evaluate(cfg)


if __name__ == "__main__":
    run_main(main)

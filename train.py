"""Train a har model: ``python train.py [experiment=NAME] [overrides]`` (see README)."""

import os
from pathlib import Path

os.environ.setdefault("HAR_ROOT", str(Path(__file__).resolve().parent))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from har.run.cli import run_main, user_errors  # noqa: E402 - no torch: a bad command line is reported at once

CONF = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with user_errors(cfg):
        from har.run.launch import sweep_objective  # torch and Lightning: only once the config composed
        from har.run.pipeline import train

        metrics = train(cfg)
        return sweep_objective(cfg, metrics)  # the objective of Hydra sweepers (Optuna): metrics[optimized_metric]


if __name__ == "__main__":
    # ckpt_path=last / resume=auto: continue the newest run of the experiment in its own folder.
    run_main(main, continue_config=(CONF, "train"))

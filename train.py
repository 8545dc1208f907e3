"""Train a har model: ``python train.py [experiment=NAME] [overrides]`` (see README)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("HAR_ROOT", str(Path(__file__).resolve().parent))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from har.run.launch import sweep_objective  # noqa: E402
from har.run.pipeline import train  # noqa: E402
from har.run.resume import continue_in_run_folder  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    return sweep_objective(cfg, metrics)  # the objective of Hydra sweepers (Optuna): metrics[optimized_metric]


if __name__ == "__main__":
    # ckpt_path=last / resume=auto: continue the newest run of the experiment in its own folder.
    sys.argv = continue_in_run_folder(sys.argv, Path(__file__).resolve().parent / "conf")
    main()

"""Predict with a checkpoint: ``python predict.py ckpt_path=PATH|last input=IMAGE|FOLDER|VIDEO [boxes=JSON]`` (see
README and conf/predict.yaml)."""

import os
from pathlib import Path

os.environ.setdefault("HAR_ROOT", str(Path(__file__).resolve().parent))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from har.run.cli import prepare_predict, run_main, user_errors  # noqa: E402 - no torch: a bad command line is reported at once


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    with user_errors(cfg):
        prepare_predict(cfg)  # ckpt_path=last resolved; input, boxes and checkpoint checked before torch loads
        from har.predict.run import predict  # torch and Lightning: only once the config composed
        from har.run.quiet import quiet_lightning

        quiet_lightning()
        predict(cfg)


if __name__ == "__main__":
    run_main(main)

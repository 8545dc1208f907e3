"""Predict with a checkpoint: ``python predict.py ckpt_path=PATH input=IMAGE|FOLDER|VIDEO [boxes=JSON]`` (see
README and conf/predict.yaml)."""

import os
from pathlib import Path

os.environ.setdefault("HAR_ROOT", str(Path(__file__).resolve().parent))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from har.predict.run import predict  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    predict(cfg)


if __name__ == "__main__":
    main()

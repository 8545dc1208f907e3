"""What runs a job: the train/evaluate pipeline, resuming, launching (DDP inside Hydra sweeps, torch.compile, the
sweep objective) and atomic checkpoint writes."""

import os

# No Hub here, and no phoning home from trl, huggingface_hub or datasets.
for variable in ("HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(variable, "1")

from engine.cli import main  # noqa: E402  (the environment must be set before the libraries load)

raise SystemExit(main())

"""Dataset folder names every reader agrees on: the split folders and their aliases."""

SPLIT_ALIASES = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation"),  # never the test split: choose it explicitly
    "test": ("test", "testing"),
}
